/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daemon/worker-msg and daemon/rate: every message form of
 * worker-protocol.h read as the worker writes it; anything else (trailing
 * bytes, numbers past 2^64, signs, leading zeros, missing fields) read as unknown or with
 * the documented fallbacks; report values; rates and ends exact and
 * saturating for any numbers a worker gone wrong may send.
 */
#include <errno.h>

#include "rate.h"
#include "tests.h"
#include "worker-msg.h"

static struct worker_msg parse(const char *line)
{
        struct worker_msg m;
        worker_msg_parse(line, &m);
        return m;
}

static void test_forms(void)
{
        struct worker_msg m;

        m = parse("phase moving");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_PHASE);
        ASSERT_EQ_INT(m.phase, WORKER_PHASE_MOVING);
        ASSERT_EQ_INT(parse("phase truncating").phase, WORKER_PHASE_TRUNCATING);
        ASSERT_EQ_INT(parse("phase attaching").phase, WORKER_PHASE_ATTACHING);
        ASSERT_EQ_INT(parse("phase scanning").phase, WORKER_PHASE_SCANNING);
        ASSERT_EQ_INT(parse("phase moving ").phase, WORKER_PHASE_UNKNOWN);
        ASSERT_EQ_INT(parse("phase ").phase, WORKER_PHASE_UNKNOWN);

        m = parse("progress 18446744073709551615 7");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_PROGRESS);
        ASSERT_EQ_U64(m.a, UINT64_MAX);
        ASSERT_EQ_U64(m.b, 7);
        m = parse("planned 4096 512");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_PLANNED);
        ASSERT_EQ_U64(m.a, 4096);
        ASSERT_EQ_U64(m.b, 512);
        static const char *const bad[] = {
                "progress 18446744073709551616 1", "progress 1", "progress 1 2 ", "progress 1  2",
                "progress -1 2", "progress +1 2", "progress 01 2", "planned 0 00", "progress 1 2x", "progress  1 2", "planned 1 2 3",
                "progress", "result", "result okay", "result failed", "", "Phase moving", "open",
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                m = parse(bad[i]);
                if (m.kind != WORKER_MSG_UNKNOWN) {
                        fprintf(stderr, "'%s' read as kind %d\n", bad[i], m.kind);
                        abort();
                }
                ASSERT_TRUE(m.text == NULL);
        }

        const char *line = "open /srv/vm/a b.vhd";
        m = parse(line);
        ASSERT_EQ_INT(m.kind, WORKER_MSG_OPEN);
        ASSERT_TRUE(m.text == line + 5);
        m = parse("open ");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_OPEN);
        ASSERT_STREQ(m.text, "");
        printf("ok phase, progress, planned, open\n");
}

static void test_results(void)
{
        struct worker_msg m;

        m = parse("result ok mode=full size-before=10 size-after=4");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_OK);
        ASSERT_STREQ(m.text, "mode=full size-before=10 size-after=4");
        m = parse("result ok");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_OK);
        ASSERT_STREQ(m.text, "");

        m = parse("result fail 5 io-error io-error: read failed at offset 512");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_FAIL);
        ASSERT_EQ_INT(m.error, EIO);
        ASSERT_STREQ(m.id, "io-error");
        ASSERT_STREQ(m.text, "io-error: read failed at offset 512");
        m = parse("result fail 125 - cancelled at a safe point");
        ASSERT_EQ_INT(m.error, 125);
        ASSERT_STREQ(m.id, "-");
        ASSERT_STREQ(m.text, "cancelled at a safe point");
        m = parse("result fail 2 parent-not-found");
        ASSERT_EQ_INT(m.error, ENOENT);
        ASSERT_STREQ(m.id, "parent-not-found");
        ASSERT_STREQ(m.text, "");
        /* The fallbacks: EIO, "-", and the rest as the message when it can
         * be told apart. */
        m = parse("result fail");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_FAIL);
        ASSERT_EQ_INT(m.error, EIO);
        ASSERT_STREQ(m.id, "-");
        ASSERT_STREQ(m.text, "");
        m = parse("result fail 0 io-error x");
        ASSERT_EQ_INT(m.error, EIO);
        m = parse("result fail 4096 io-error x");
        ASSERT_EQ_INT(m.error, EIO);
        m = parse("result fail 99999999999999999999 io-error x");
        ASSERT_EQ_INT(m.error, EIO);
        ASSERT_STREQ(m.id, "-");
        ASSERT_STREQ(m.text, "");
        m = parse("result fail 1 Bad_Id\x1b the message");
        ASSERT_EQ_INT(m.error, 1);
        ASSERT_STREQ(m.id, "-");
        ASSERT_STREQ(m.text, "the message");
        m = parse("result fail 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa msg");
        ASSERT_STREQ(m.id, "-");
        ASSERT_STREQ(m.text, "msg");
        printf("ok result ok, result fail and their fallbacks\n");
}

static void test_report(void)
{
        const char *r = "mode=full size-before=100 blocks-moved=7 bytes-moved=x size-after=18446744073709551616 "
                        "xsize-before=5 blocks-dropped-fs=3";
        ASSERT_EQ_U64(worker_report_value(r, "size-before"), 100);
        ASSERT_EQ_U64(worker_report_value(r, "blocks-moved"), 7);
        ASSERT_EQ_U64(worker_report_value(r, "bytes-moved"), 0);
        ASSERT_EQ_U64(worker_report_value(r, "size-after"), 0);
        ASSERT_EQ_U64(worker_report_value(r, "blocks-dropped-fs"), 3);
        ASSERT_EQ_U64(worker_report_value(r, "seconds"), 0);
        ASSERT_EQ_U64(worker_report_value("", "size-before"), 0);
        ASSERT_EQ_U64(worker_report_value("size-before=", "size-before"), 0);
        ASSERT_EQ_U64(worker_report_value("size-before=07 size-before=9", "size-before"), 9);
        printf("ok report values\n");
}

static void test_rate(void)
{
        ASSERT_EQ_U64(rate_per_second(1 << 20, 500000), 2 << 20);
        ASSERT_EQ_U64(rate_per_second(UINT64_MAX, 200001), UINT64_MAX);
        ASSERT_EQ_U64(rate_per_second(UINT64_MAX, UINT64_MAX), 1000000);
        ASSERT_EQ_U64(rate_per_second(3, 2000000), 1);
        ASSERT_EQ_U64(rate_usec_for(1 << 20, 1 << 20), 1000000);
        ASSERT_EQ_U64(rate_usec_for(UINT64_MAX, 1), UINT64_MAX);
        ASSERT_EQ_U64(rate_add(UINT64_MAX - 1, 1), UINT64_MAX);
        ASSERT_EQ_U64(rate_add(UINT64_MAX, UINT64_MAX), UINT64_MAX);
        ASSERT_EQ_U64(rate_add(2, 3), 5);
        printf("ok rates saturate\n");
}

static void test_volume(void)
{
        struct worker_msg m;
        static const char *const bad[] = {
                "volume 1 2 3 4 5 6 7 8 1 1", "volume 1 2 3 4 5 6 7 8 2 1 ntfs", "volume 1 2 3 4 5 6 7 8 1 1 ",
                "volume 1 2 3 4 5 6 7 1 1 ntfs", "volume 1 2 3 4 5 6 7 8 1 1  note", "volume 01 2 3 4 5 6 7 8 1 1 -",
                "volume 1 2 3 4 5 6 7 8 1 1 nameofafilesystemthatislongerthan31", "volume 1 2 3 4 5 6 7 18446744073709551616 1 1 -",
                "volume 1 2 3 4 5 6 7 8 1 1 n\x01fs x",
        };

        m = parse("volume 1 1048576 40894464 4096 12072960 28821504 28821504 23074304 1 1 ext2/3/4");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_VOLUME);
        ASSERT_EQ_U64(m.vol.partition, 1);
        ASSERT_EQ_U64(m.vol.start, 1048576);
        ASSERT_EQ_U64(m.vol.size, 40894464);
        ASSERT_EQ_U64(m.vol.cluster_size, 4096);
        ASSERT_EQ_U64(m.vol.used, 12072960);
        ASSERT_EQ_U64(m.vol.free, 28821504);
        ASSERT_EQ_U64(m.vol.fs_free, 28821504);
        ASSERT_EQ_U64(m.vol.reclaimable, 23074304);
        ASSERT_TRUE(m.vol.scanned && m.vol.clean);
        ASSERT_STREQ(m.vol.fs, "ext2/3/4");
        ASSERT_STREQ(m.text, "");
        m = parse("volume 0 0 8 0 0 0 0 0 0 0 - no recognised file system: not scanned, counted as in use");
        ASSERT_EQ_INT(m.kind, WORKER_MSG_VOLUME);
        ASSERT_TRUE(!m.vol.scanned && !m.vol.clean);
        ASSERT_STREQ(m.vol.fs, "");
        ASSERT_STREQ(m.text, "no recognised file system: not scanned, counted as in use");
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                m = parse(bad[i]);
                ASSERT_EQ_INT(m.kind, WORKER_MSG_UNKNOWN);
                ASSERT_TRUE(!m.text);
        }
        printf("ok volume\n");
}

int main(void)
{
        test_forms();
        test_volume();
        test_results();
        test_report();
        test_rate();
        return 0;
}
