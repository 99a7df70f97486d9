/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-owner: own a bus name and answer every method call, for the tests of
 * the bus policy (tests/integration/test-units.sh).
 *
 *     bus-owner ADDRESS NAME
 *
 * Connects to the bus at ADDRESS, asks for NAME (not queued) and prints
 * "owned NAME" once it is the primary owner; then replies to every method
 * call sent to it with one string, "INTERFACE.MEMBER", so that a caller sees
 * that its message got through the bus's policy.  Runs until killed.
 *
 * It stands in for vhd-compactd so that the policy is tested on its own:
 * the bus decides who may own the name and who may send what to it before
 * any daemon code runs.
 *
 * Exit status: 1 when the name could not be had (the D-Bus error name, e.g.
 * org.freedesktop.DBus.Error.AccessDenied, on stdout; the message on
 * stderr), 2 usage or connection error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        const char *iface, *member;
        char answer[512];
        int r;

        if (!sd_bus_message_is_method_call(m, NULL, NULL))
                return 0;
        iface = sd_bus_message_get_interface(m);
        member = sd_bus_message_get_member(m);
        /* The bus's own calls to us (none expected) are not ours to answer. */
        if (!member)
                return 0;
        snprintf(answer, sizeof answer, "%s.%s", iface ? iface : "-", member);
        r = sd_bus_reply_method_return(m, "s", answer);
        if (r < 0)
                fprintf(stderr, "bus-owner: sd_bus_reply_method_return: %s\n", strerror(-r));
        return 1;
}

int main(int argc, char **argv)
{
        sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (argc != 3) {
                fprintf(stderr, "usage: bus-owner ADDRESS NAME\n");
                return 2;
        }
        if ((r = sd_bus_new(&bus)) < 0 ||
            (r = sd_bus_set_address(bus, argv[1])) < 0 ||
            (r = sd_bus_set_bus_client(bus, 1)) < 0 ||
            (r = sd_bus_start(bus)) < 0) {
                fprintf(stderr, "bus-owner: connecting to %s: %s\n", argv[1], strerror(-r));
                return 2;
        }
        r = sd_bus_add_filter(bus, NULL, on_message, NULL);
        if (r < 0) {
                fprintf(stderr, "bus-owner: sd_bus_add_filter: %s\n", strerror(-r));
                return 2;
        }

        /* RequestName by hand, to report the bus's error name as it is. */
        sd_bus_message *reply = NULL;
        uint32_t ret;
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "RequestName", &error, &reply,
                               "su", argv[2], (uint32_t) 4 /* DBUS_NAME_FLAG_DO_NOT_QUEUE */);
        if (r < 0) {
                printf("%s\n", error.name ? error.name : "-");
                fprintf(stderr, "bus-owner: RequestName %s: %s\n", argv[2],
                        error.message ? error.message : strerror(-r));
                return 1;
        }
        r = sd_bus_message_read(reply, "u", &ret);
        sd_bus_message_unref(reply);
        if (r < 0 || ret != 1 /* DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER */) {
                printf("not-owner\n");
                fprintf(stderr, "bus-owner: RequestName %s: reply %u\n", argv[2], r < 0 ? 0 : ret);
                return 1;
        }
        printf("owned %s\n", argv[2]);
        fflush(stdout);

        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "bus-owner: sd_bus_process: %s\n", strerror(-r));
                        return 2;
                }
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR) {
                        fprintf(stderr, "bus-owner: sd_bus_wait: %s\n", strerror(-r));
                        return 2;
                }
        }
}
