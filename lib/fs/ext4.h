/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ext2/3/4 scanner's own facts (the registry's ret_detail for "ext4").
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ext4_info {
        uint32_t block_size;
        uint32_t cluster_size;          /* block_size unless bigalloc */
        uint64_t blocks_count;
        uint64_t clusters_count;        /* whole clusters below blocks_count */
        uint64_t free_clusters;         /* granted by the scan */
        uint32_t groups;
        uint32_t uninit_groups;         /* BLOCK_UNINIT bitmaps rebuilt, not read */
        uint32_t compat, incompat, ro_compat;
        bool clean;
};
