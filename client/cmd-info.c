/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl info FILE [--json]`: everything the footer and header say, the
 * allocation count and the parent chain.  The image is opened read-only
 * without a lock, so a disk in use can be described.  A child whose parent
 * cannot be bound is still described (exit 1, with the reason on stderr).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "vhd/vhd.h"
#include "vhdctl.h"

static void fmt_uuid(const uint8_t u[16], char out[37])
{
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                 u[13], u[14], u[15]);
}

static void fmt_time(uint32_t vhd_seconds, char out[32])
{
        time_t t = (time_t) vhd_seconds + VHD_EPOCH_OFFSET;
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_os(uint32_t os, char out[5])
{
        for (int i = 0; i < 4; i++) {
                char c = (char) (os >> (24 - 8 * i));
                out[i] = c >= 0x20 && c < 0x7f ? c : '?';
        }
        out[4] = 0;
}

static void fmt_app(const char *app, char out[5])
{
        for (int i = 0; i < 4; i++)
                out[i] = app[i] >= 0x20 && app[i] < 0x7f ? app[i] : (app[i] ? '?' : ' ');
        out[4] = 0;
}

static void print_text(const struct vhd_image *img)
{
        const struct vhd_footer *f = vhd_image_footer(img);
        const struct vhd_dyn_header *h = vhd_image_dyn_header(img);
        struct vhd_geometry g = { f->cylinders, f->heads, f->sectors };
        char uuid[37], when[32], os[5], app[5];

        fmt_uuid(f->unique_id, uuid);
        fmt_time(f->timestamp, when);
        fmt_os(f->creator_os, os);
        fmt_app(f->creator_app, app);
        printf("file:            %s\n", vhd_image_path(img));
        printf("type:            %s\n", vhd_disk_type_to_string(f->disk_type));
        printf("virtual size:    %" PRIu64 " bytes (%.2f GiB)\n", vhd_image_virtual_size(img),
               vhd_image_virtual_size(img) / 1073741824.0);
        printf("original size:   %" PRIu64 " bytes\n", f->original_size);
        printf("geometry:        %u/%u/%u (C/H/S) = %" PRIu64 " bytes\n", f->cylinders, f->heads,
               f->sectors, vhd_geometry_size(g));
        if (vhd_footer_qemu_size(f) != vhd_image_virtual_size(img))
                printf("note:            qemu sizes this disk by CHS: %" PRIu64 " bytes\n",
                       vhd_footer_qemu_size(f));
        printf("file size:       %" PRIu64 " bytes\n", vhd_image_file_size(img));
        printf("creator:         '%s' version %u.%u on '%s'\n", app, f->creator_version >> 16,
               f->creator_version & 0xffff, os);
        printf("created:         %s\n", when);
        printf("unique id:       %s\n", uuid);
        printf("saved state:     %s\n", f->saved_state ? "yes" : "no");
        if (f->features & VHD_FEATURE_TEMPORARY)
                printf("temporary:       yes\n");
        if (!h)
                return;
        printf("block size:      %u bytes\n", h->block_size);
        printf("blocks:          %u allocated of %u\n", vhd_image_blocks_allocated(img),
               vhd_image_n_blocks(img));
        printf("BAT offset:      %" PRIu64 "\n", h->table_offset);
        if (f->disk_type != VHD_TYPE_DIFFERENCING)
                return;
        fmt_uuid(h->parent_uuid, uuid);
        fmt_time(h->parent_timestamp, when);
        printf("parent name:     %s\n", h->parent_name);
        printf("parent id:       %s\n", uuid);
        printf("parent time:     %s\n", when);
        for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++)
                if (h->locators[i].code != VHD_LOC_NONE)
                        printf("locator %u:       %s, %u bytes at %" PRIu64 "\n", i,
                               vhd_locator_code_to_string(h->locators[i].code),
                               h->locators[i].data_length, h->locators[i].data_offset);
        int depth = 1;
        for (const struct vhd_image *p = vhd_image_parent(img); p; p = vhd_image_parent(p), depth++) {
                fmt_uuid(vhd_image_footer(p)->unique_id, uuid);
                printf("parent %d:        %s (%s, id %s)\n", depth, vhd_image_path(p),
                       vhd_disk_type_to_string(vhd_image_footer(p)->disk_type), uuid);
        }
}

static void json_image(struct json *j, const char *key, const struct vhd_image *img)
{
        const struct vhd_footer *f = vhd_image_footer(img);
        const struct vhd_dyn_header *h = vhd_image_dyn_header(img);
        char uuid[37], when[32], os[5], app[5];

        fmt_uuid(f->unique_id, uuid);
        fmt_time(f->timestamp, when);
        fmt_os(f->creator_os, os);
        fmt_app(f->creator_app, app);
        json_begin_object(j, key);
        json_string(j, "file", vhd_image_path(img));
        json_string(j, "type", vhd_disk_type_to_string(f->disk_type));
        json_u64(j, "virtual-size", vhd_image_virtual_size(img));
        json_u64(j, "qemu-virtual-size", vhd_footer_qemu_size(f));
        json_u64(j, "original-size", f->original_size);
        json_begin_object(j, "geometry");
        json_u64(j, "cylinders", f->cylinders);
        json_u64(j, "heads", f->heads);
        json_u64(j, "sectors", f->sectors);
        json_end_object(j);
        json_u64(j, "file-size", vhd_image_file_size(img));
        json_string(j, "creator-app", app);
        json_u64(j, "creator-version", f->creator_version);
        json_string(j, "creator-os", os);
        json_string(j, "created", when);
        json_string(j, "unique-id", uuid);
        json_bool(j, "saved-state", f->saved_state);
        json_bool(j, "temporary", f->features & VHD_FEATURE_TEMPORARY);
        if (h) {
                json_u64(j, "block-size", h->block_size);
                json_u64(j, "blocks-allocated", vhd_image_blocks_allocated(img));
                json_u64(j, "blocks-total", vhd_image_n_blocks(img));
                json_u64(j, "bat-offset", h->table_offset);
        }
        if (h && f->disk_type == VHD_TYPE_DIFFERENCING) {
                fmt_uuid(h->parent_uuid, uuid);
                fmt_time(h->parent_timestamp, when);
                json_string(j, "parent-name", h->parent_name);
                json_string(j, "parent-unique-id", uuid);
                json_string(j, "parent-timestamp", when);
                json_begin_array(j, "parent-locators");
                for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++) {
                        const struct vhd_locator *l = &h->locators[i];
                        if (l->code == VHD_LOC_NONE)
                                continue;
                        json_begin_object(j, NULL);
                        json_string(j, "platform", vhd_locator_code_to_string(l->code));
                        json_u64(j, "offset", l->data_offset);
                        json_u64(j, "length", l->data_length);
                        json_end_object(j);
                }
                json_end_array(j);
                if (vhd_image_parent(img))
                        json_image(j, "parent", vhd_image_parent(img));
                else
                        json_null(j, "parent");
        }
        json_end_object(j);
}

int cmd_info(int argc, char **argv)
{
        struct vc_problems problems = {};
        struct vhd_image *img = NULL;
        const char *file;
        bool json, parent_missing = false;
        int r;

        r = parse_file_json(argc, argv, "vhdctl info FILE [--json]", &file, &json);
        if (r != 0)
                return r < 0 ? 2 : 0;
        r = vhd_image_open(file, VHD_OPEN_NOLOCK, &problems, &img);
        if (r < 0 && (problems.first.id == VC_PROBLEM_PARENT_NOT_FOUND ||
                      problems.first.id == VC_PROBLEM_PARENT_MISMATCH ||
                      problems.first.id == VC_PROBLEM_PARENT_LOOP)) {
                print_problem(file, &problems.first);
                parent_missing = true;
                r = vhd_image_open(file, VHD_OPEN_NOLOCK | VHD_OPEN_NOPARENT, &problems, &img);
        }
        if (r < 0) {
                if (vc_problems_any(&problems))
                        print_problem(file, &problems.first);
                else
                        print_errno(file, r, NULL);
                return 1;
        }
        if (json) {
                struct json j = { .f = stdout };
                json_image(&j, NULL, img);
        } else
                print_text(img);
        vhd_image_free(img);
        return parent_missing ? 1 : 0;
}
