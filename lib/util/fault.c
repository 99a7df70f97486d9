/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fault.h"

static unsigned long counter, armed_at;
static int env_read;

void vc_fault_arm(unsigned long n)
{
        __atomic_store_n(&armed_at, n, __ATOMIC_SEQ_CST);
        __atomic_store_n(&env_read, 1, __ATOMIC_SEQ_CST);
}

unsigned long vc_fault_count(void)
{
        return __atomic_load_n(&counter, __ATOMIC_SEQ_CST);
}

void vc_fault_point(const char *what)
{
        unsigned long n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);

        if (!__atomic_load_n(&env_read, __ATOMIC_ACQUIRE)) {
                const char *e = getenv("VHDCOMPACT_FAULT_AT");
                if (e)
                        __atomic_store_n(&armed_at, strtoul(e, NULL, 10), __ATOMIC_SEQ_CST);
                __atomic_store_n(&env_read, 1, __ATOMIC_RELEASE);
        }
        if (n == __atomic_load_n(&armed_at, __ATOMIC_SEQ_CST)) {
                fprintf(stderr, "vhdcompact: fault point %lu (%s): exiting\n", n, what);
                _exit(VC_FAULT_EXIT);
        }
}
