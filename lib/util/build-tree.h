/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running from the build tree.  Our programs find their helpers where
 * `meson install` puts them: vhdctl and the worker the nbdkit plugin, the
 * daemon its worker.  A program run uninstalled, straight from the build
 * tree, takes them from the same tree instead, so that a new user builds
 * and runs with no environment to set (`meson devenv` sets it too).
 *
 * "From the build tree" is decided on the kernel's word only: the running
 * executable (/proc/self/exe, not argv[0], not the working directory, not
 * the environment) lies inside this build's tree, whose absolute path is
 * compiled in (VHD_BUILD_ROOT).  An installed program does not, so it
 * always takes the installed path: an installed root daemon never runs a
 * worker from anywhere else (a relative path, a user's folder).  A
 * program that does run from the build tree trusts that tree already: it
 * is its own code.
 */
#pragma once

/* When the running executable is inside the build tree: 1 and, in
 * *ret_path, a new string VHD_BUILD_ROOT/rel (free() it).  0 when it is
 * not (*ret_path untouched), or -errno. */
int vc_build_tree_path(const char *rel, char **ret_path);
