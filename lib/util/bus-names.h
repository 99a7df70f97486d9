/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The names that vhd-compactd, its worker and vhdctl share: the D-Bus
 * service's bus name, object paths, interfaces and error names, the polkit
 * action, and the words of a job's State (the worker's phases are the
 * running ones).  They are the contract of dbus/org.vhd.Compact.xml and
 * org.vhd.Compact(5); written once here so that a typo is a compile error,
 * not a silent mismatch between the daemon and its clients.
 */
#pragma once

#define VC_BUS_NAME "org.vhd.Compact"
#define VC_BUS_PATH "/org/vhd/Compact"
#define VC_BUS_MANAGER "org.vhd.Compact.Manager"
#define VC_BUS_JOB "org.vhd.Compact.Job"
/* Jobs are VC_BUS_JOB_PREFIX "/N", N from 1. */
#define VC_BUS_JOB_PREFIX "/org/vhd/Compact/job"
#define VC_POLKIT_ACTION "org.vhd.compact"

/* Error names (dbus/org.vhd.Compact.xml says when each is used). */
#define VC_ERROR_PREFIX "org.vhd.Compact.Error."
#define VC_ERROR_ACCESS_DENIED VC_ERROR_PREFIX "AccessDenied"
#define VC_ERROR_BUSY VC_ERROR_PREFIX "Busy"
#define VC_ERROR_CANCELLED VC_ERROR_PREFIX "Cancelled"
#define VC_ERROR_CORRUPT VC_ERROR_PREFIX "Corrupt"
#define VC_ERROR_FAILED VC_ERROR_PREFIX "Failed"
#define VC_ERROR_IO VC_ERROR_PREFIX "IOError"
#define VC_ERROR_IN_USE VC_ERROR_PREFIX "InUse"
#define VC_ERROR_NOT_CLEAN VC_ERROR_PREFIX "NotClean"
#define VC_ERROR_NOT_SUPPORTED VC_ERROR_PREFIX "NotSupported"
#define VC_ERROR_PARENT VC_ERROR_PREFIX "Parent"
#define VC_ERROR_SAVED_STATE VC_ERROR_PREFIX "SavedState"
#define VC_ERROR_SHUTTING_DOWN VC_ERROR_PREFIX "ShuttingDown"
#define VC_ERROR_TOO_MANY_JOBS VC_ERROR_PREFIX "TooManyJobs"

/* A job's State.  A worker announces the running ones as its phases
 * ("phase NAME", daemon/worker-protocol.h). */
#define VC_STATE_QUEUED "queued"
#define VC_STATE_ATTACHING "attaching"
#define VC_STATE_SCANNING "scanning"
#define VC_STATE_MOVING "moving"
#define VC_STATE_TRUNCATING "truncating"
#define VC_STATE_DONE "done"
#define VC_STATE_FAILED "failed"
#define VC_STATE_CANCELLED "cancelled"
