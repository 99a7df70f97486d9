/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd_create_new_file() (util/fd-util.h), which `vhdctl create` of VHD and
 * VHDX children goes through: the file appears whole with its mode, an
 * existing file is refused and left as it was, and no failure (of the
 * writer, of an injected write or sync, of the link) leaves a temporary
 * file behind.  Each case runs in a fresh folder and counts what is in it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/fault.h"
#include "util/fd-util.h"
#include "util/macro.h"
#include "vhd-builder.h"

static const char content[] = "the whole new file";

/* Writes content, or part of it and then fails with fail_with. */
struct fill_args {
        int fail_with;
        int calls;
};

static int fill(int fd, void *userdata)
{
        struct fill_args *a = userdata;
        int r;

        a->calls++;
        if (a->fail_with) {
                r = pwrite_full(fd, content, 5, 0);
                return r < 0 ? r : a->fail_with;
        }
        return pwrite_full(fd, content, sizeof content, 0);
}

/* Entries of dir other than . and .., the one name seen stored in one. */
static int count_entries(const char *dir, char *one)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        if (!d)
                TEST_FAIL("opendir '%s': %s", dir, strerror(errno));
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                        if (one)
                                snprintf(one, 256, "%s", e->d_name);
                        n++;
                }
        closedir(d);
        return n;
}

static void test_creates(void)
{
        char dir[VB_PATH_MAX], path[VB_PATH_MAX], one[256];
        struct fill_args a = { 0 };
        struct stat st;
        size_t len;

        vb_temp_dir(dir);
        vb_path_join(path, dir, "new.img");
        umask(077);     /* the mode asked for is the mode made, whatever the umask */
        ASSERT_EQ_INT(fd_create_new_file(path, 0644, fill, &a), 0);
        ASSERT_EQ_INT(a.calls, 1);
        uint8_t *got = vb_read_file(path, &len);
        ASSERT_EQ_U64(len, sizeof content);
        ASSERT_MEMEQ(got, content, sizeof content);
        free(got);
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ_INT(st.st_mode & 07777, 0644);
        ASSERT_EQ_INT(st.st_nlink, 1);          /* the temporary name is gone */
        ASSERT_EQ_INT(count_entries(dir, one), 1);
        ASSERT_STREQ(one, "new.img");
        vb_remove_dir(dir);
}

static void test_refuses_existing(void)
{
        char dir[VB_PATH_MAX], path[VB_PATH_MAX], one[256];
        struct fill_args a = { 0 };
        size_t len;

        vb_temp_dir(dir);
        vb_path_join(path, dir, "there.img");
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(pwrite_full(fd, "old", 3, 0));
        close(fd);
        ASSERT_EQ_INT(fd_create_new_file(path, 0644, fill, &a), -EEXIST);
        uint8_t *got = vb_read_file(path, &len);
        ASSERT_EQ_U64(len, 3);
        ASSERT_MEMEQ(got, "old", 3);
        free(got);
        ASSERT_EQ_INT(count_entries(dir, one), 1);
        ASSERT_STREQ(one, "there.img");
        vb_remove_dir(dir);
}

/* The writer fails half-way, a write or the sync fails (injected): the
 * error comes back and the folder is as empty as it was. */
static void test_failure_leaves_nothing(void)
{
        static const char *const rules[] = { NULL, "write:1:enospc", "write:1:eio", "sync:1:eio" };
        static const int expect[] = { -EIO, -ENOSPC, -EIO, -EIO };
        char dir[VB_PATH_MAX], path[VB_PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
                struct fill_args a = { .fail_with = rules[i] ? 0 : -EIO };

                vb_temp_dir(dir);
                vb_path_join(path, dir, "new.img");
                ASSERT_OK(vc_io_fault_set(rules[i]));
                ASSERT_EQ_INT(fd_create_new_file(path, 0644, fill, &a), expect[i]);
                ASSERT_OK(vc_io_fault_set(NULL));
                ASSERT_EQ_INT(access(path, F_OK) < 0 ? errno : 0, ENOENT);
                ASSERT_EQ_INT(count_entries(dir, NULL), 0);
                vb_remove_dir(dir);
        }
}

static void test_bad_folder(void)
{
        char dir[VB_PATH_MAX], path[VB_PATH_MAX];
        struct fill_args a = { 0 };

        vb_temp_dir(dir);
        vb_path_join(path, dir, "missing/new.img");
        ASSERT_EQ_INT(fd_create_new_file(path, 0644, fill, &a), -ENOENT);
        ASSERT_EQ_INT(a.calls, 0);
        ASSERT_EQ_INT(count_entries(dir, NULL), 0);
        vb_remove_dir(dir);
}

int main(void)
{
        test_creates();
        test_refuses_existing();
        test_failure_leaves_nothing();
        test_bad_folder();
        return 0;
}
