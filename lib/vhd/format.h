/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHD on-disk layout (Microsoft VHD specification 1.0, October 2006).
 * Every integer is BIG-endian.  Offsets are relative to the start of the
 * structure.  See docs/formats/vhd.md for the field tables in our words.
 *
 *   fixed:         [ data ............................ ][footer 512]
 *   dynamic/diff:  [footer copy 512][dyn header 1024][BAT][locators][blocks...][footer 512]
 *   block:         [sector bitmap, MSB first, padded to 512][block_size bytes of data]
 */
#pragma once

#include <stdint.h>

#define VHD_SECTOR_SIZE 512u

/* Hard disk footer, 512 bytes. */
#define VHD_FOOTER_SIZE 512u
#define VHD_FOOTER_OFF_COOKIE 0              /* "conectix" */
#define VHD_FOOTER_OFF_FEATURES 8
#define VHD_FOOTER_OFF_VERSION 12
#define VHD_FOOTER_OFF_DATA_OFFSET 16
#define VHD_FOOTER_OFF_TIMESTAMP 24
#define VHD_FOOTER_OFF_CREATOR_APP 28
#define VHD_FOOTER_OFF_CREATOR_VERSION 32
#define VHD_FOOTER_OFF_CREATOR_OS 36
#define VHD_FOOTER_OFF_ORIGINAL_SIZE 40
#define VHD_FOOTER_OFF_CURRENT_SIZE 48
#define VHD_FOOTER_OFF_CYLINDERS 56
#define VHD_FOOTER_OFF_HEADS 58
#define VHD_FOOTER_OFF_SECTORS 59
#define VHD_FOOTER_OFF_DISK_TYPE 60
#define VHD_FOOTER_OFF_CHECKSUM 64
#define VHD_FOOTER_OFF_UNIQUE_ID 68
#define VHD_FOOTER_OFF_SAVED_STATE 84

#define VHD_FOOTER_COOKIE "conectix"
#define VHD_FEATURE_TEMPORARY 0x1u
#define VHD_FEATURE_RESERVED 0x2u
#define VHD_VERSION_1_0 0x00010000u

enum vhd_disk_type {
        VHD_TYPE_FIXED = 2,
        VHD_TYPE_DYNAMIC = 3,
        VHD_TYPE_DIFFERENCING = 4,
};

/* Dynamic disk header, 1024 bytes at footer.data_offset. */
#define VHD_DYN_SIZE 1024u
#define VHD_DYN_OFF_COOKIE 0                 /* "cxsparse" */
#define VHD_DYN_OFF_DATA_OFFSET 8
#define VHD_DYN_OFF_TABLE_OFFSET 16
#define VHD_DYN_OFF_VERSION 24
#define VHD_DYN_OFF_MAX_ENTRIES 28
#define VHD_DYN_OFF_BLOCK_SIZE 32
#define VHD_DYN_OFF_CHECKSUM 36
#define VHD_DYN_OFF_PARENT_UUID 40
#define VHD_DYN_OFF_PARENT_TIMESTAMP 56
#define VHD_DYN_OFF_PARENT_NAME 64           /* UTF-16BE, 512 bytes */
#define VHD_DYN_PARENT_NAME_SIZE 512u
#define VHD_DYN_OFF_LOCATORS 576
#define VHD_DYN_LOCATOR_SIZE 24u
#define VHD_DYN_N_LOCATORS 8u

#define VHD_DYN_COOKIE "cxsparse"

/* Parent locator entry, 24 bytes. */
#define VHD_LOC_OFF_CODE 0
#define VHD_LOC_OFF_DATA_SPACE 4
#define VHD_LOC_OFF_DATA_LENGTH 8
#define VHD_LOC_OFF_DATA_OFFSET 16

#define VHD_LOC_NONE 0u
#define VHD_LOC_WI2R 0x57693272u             /* "Wi2r" deprecated relative */
#define VHD_LOC_WI2K 0x5769326Bu             /* "Wi2k" deprecated absolute */
#define VHD_LOC_W2RU 0x57327275u             /* "W2ru" relative UTF-16 */
#define VHD_LOC_W2KU 0x57326B75u             /* "W2ku" absolute UTF-16 */
#define VHD_LOC_MAC 0x4D616320u              /* "Mac " alias blob */
#define VHD_LOC_MACX 0x4D616358u             /* "MacX" file URL, UTF-8 */

#define VHD_BAT_UNUSED 0xFFFFFFFFu

/* Caps: refuse anything bigger before allocating for it. */
#define VHD_MAX_SECTORS 0xFF000000ull        /* 2040 GiB, as qemu */
#define VHD_MAX_SIZE (VHD_MAX_SECTORS * VHD_SECTOR_SIZE)
#define VHD_MIN_BLOCK_SIZE VHD_SECTOR_SIZE
#define VHD_MAX_BLOCK_SIZE (256u << 20)
#define VHD_MAX_LOCATOR_LENGTH (64u << 10)   /* a path, never more */
#define VHD_MAX_CHAIN_DEPTH 64

/* Timestamps count seconds from 2000-01-01 00:00:00 UTC. */
#define VHD_EPOCH_OFFSET 946684800ll
