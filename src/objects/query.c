/* SPDX-License-Identifier: MIT */
/* iol_query: a snapshot of an object's state, for tools and tests. */
#include <errno.h>
#include <string.h>

#include "src/table/table.h"

const char *iol_type_name(int type)
{
	switch (type) {
	case IOL_TYPE_MUTEX:
		return "mutex";
	case IOL_TYPE_EVENT:
		return "event";
	case IOL_TYPE_SEMAPHORE:
		return "semaphore";
	case IOL_TYPE_PROCESS:
		return "process";
	case IOL_TYPE_THREAD:
		return "thread";
	case IOL_TYPE_FILE:
		return "file";
	default:
		return "unknown";
	}
}

static void query_mutex(iol_table *t, struct ioli_slot *s, struct iol_info *out)
{
	uint32_t v = atomic_load(&s->word) & ~IOLI_W_LOCKED;
	uint32_t owner = v & IOLI_MX_OWNER_MASK;
	pid_t tid = 0;

	if (owner == 0) {
		out->u.mutex.abandoned = v & IOLI_MX_ABANDONED;
		return;
	}
	if (ioli_owner_alive(t, owner, &tid)) {
		out->u.mutex.owner_tid = tid;
		out->u.mutex.recursion =
		    atomic_load_explicit(&s->u.mutex.recursion, memory_order_relaxed);
		return;
	}
	/* Its owner died: report it abandoned, and make it so for everyone. */
	out->u.mutex.abandoned = true;
	ioli_mutex_mark_abandoned(t, s, &v);
}

static void query_file(iol_table *t, struct ioli_slot *s, struct iol_info *out)
{
	uint32_t r = atomic_load(&s->u.fopen.rec);
	uint32_t acc = atomic_load(&s->u.fopen.access);
	struct ioli_slot *rec;

	out->u.file.access = ((acc & IOLI_ACC_READ) ? IOL_SHARE_READ : 0) |
			     ((acc & IOLI_ACC_WRITE) ? IOL_SHARE_WRITE : 0) |
			     ((acc & IOLI_ACC_DELETE) ? IOL_SHARE_DELETE : 0);
	out->u.file.share = atomic_load(&s->u.fopen.share);
	if (!ioli_slot_live(t, r, atomic_load(&s->u.fopen.rec_gen)))
		return;
	rec = ioli_slot(t, r);
	out->u.file.dev =
	    atomic_load(&rec->u.frec.dev_lo) | ((uint64_t)atomic_load(&rec->u.frec.dev_hi) << 32);
	out->u.file.ino =
	    atomic_load(&rec->u.frec.ino_lo) | ((uint64_t)atomic_load(&rec->u.frec.ino_hi) << 32);
	out->u.file.opens = atomic_load(&rec->u.frec.opens);
	out->u.file.readers = atomic_load(&rec->u.frec.readers);
	out->u.file.writers = atomic_load(&rec->u.frec.writers);
	out->u.file.deleters = atomic_load(&rec->u.frec.deleters);
	out->u.file.share_read = atomic_load(&rec->u.frec.sh_read);
	out->u.file.share_write = atomic_load(&rec->u.frec.sh_write);
	out->u.file.share_delete = atomic_load(&rec->u.frec.sh_delete);
}

int iol_query(int h, struct iol_info *out)
{
	struct ioli_href r;
	struct ioli_slot *s;
	uint32_t st, len;
	int err;

	if (!out)
		return -EINVAL;
	err = ioli_handle_get(h, &r);
	if (err)
		return err;
	s = r.s;
	st = atomic_load_explicit(&s->state, memory_order_acquire);
	if (!(st & IOLI_SLOT_LIVE) || atomic_load(&s->gen) != r.sgen)
		return -EBADF;
	memset(out, 0, sizeof(*out));
	out->type = (int)IOLI_SLOT_TYPE(st);
	out->refs = atomic_load_explicit(&s->refs, memory_order_relaxed);
	uint32_t internal = atomic_load_explicit(&s->internal, memory_order_relaxed);
	out->refs = out->refs >= internal ? out->refs - internal : 0;
	len = atomic_load_explicit(&s->name_len, memory_order_relaxed);
	if (len > IOL_NAME_MAX || (IOLI_SLOT_FLAGS(st) & IOLI_OBJ_KEYED))
		len = 0; /* internal keys are not names */
	memcpy(out->name, s->name, len);
	out->name[len] = '\0';
	switch (out->type) {
	case IOL_TYPE_MUTEX:
		query_mutex(r.t, s, out);
		break;
	case IOL_TYPE_EVENT:
		out->u.event.manual_reset = IOLI_SLOT_FLAGS(st) & IOLI_OBJ_MANUAL;
		out->u.event.signaled = atomic_load(&s->word) & IOLI_EV_SIGNALED;
		break;
	case IOL_TYPE_SEMAPHORE:
		out->u.semaphore.count = atomic_load(&s->word) & IOLI_SEM_COUNT_MASK;
		out->u.semaphore.max = s->u.sem.max;
		break;
	case IOL_TYPE_PROCESS: {
		uint32_t ps = atomic_load(&s->u.proc.status);

		out->u.process.pid = (pid_t)atomic_load(&s->u.proc.pid);
		out->u.process.ended = atomic_load(&s->word) & IOLI_SIG_SIGNALED;
		out->u.process.status_known = ps & IOLI_PS_HAVE;
		out->u.process.exited = ps & IOLI_PS_EXITED;
		out->u.process.core_dumped = ps & IOLI_PS_CORE;
		out->u.process.code = out->u.process.exited ? (int)(ps & 0xffu) : 0;
		out->u.process.signal = out->u.process.exited ? 0 : (int)((ps >> 8) & 0xffu);
		break;
	}
	case IOL_TYPE_THREAD:
		out->u.thread.tid = (pid_t)atomic_load(&s->u.thread.tid);
		out->u.thread.ended = atomic_load(&s->word) & IOLI_SIG_SIGNALED;
		break;
	case IOL_TYPE_FILE:
		query_file(r.t, s, out);
		break;
	default:
		break;
	}
	return 0;
}
