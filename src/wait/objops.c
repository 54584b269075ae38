/* SPDX-License-Identifier: MIT */
/* The operations table of each waitable type, by slot type: the waits
 * look them up here, above the types (src/objects, src/process). */
#include "src/objects/objops.h"

static const struct ioli_obj_ops *const ops_by_type[] = {
    [IOL_TYPE_MUTEX] = &ioli_mutex_ops,		[IOL_TYPE_EVENT] = &ioli_event_ops,
    [IOL_TYPE_SEMAPHORE] = &ioli_semaphore_ops, [IOL_TYPE_PROCESS] = &ioli_process_ops,
    [IOL_TYPE_THREAD] = &ioli_thread_ops,
};

const struct ioli_obj_ops *ioli_obj_ops(uint32_t type)
{
	if (type >= sizeof(ops_by_type) / sizeof(ops_by_type[0]))
		return NULL;
	return ops_by_type[type];
}
