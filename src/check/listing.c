/* SPDX-License-Identifier: MIT */
/*
 * Listing a table: its objects (slot, type, name, references, state) and
 * the processes attached to it, as text or JSON.  Used by `iolayer ls`
 * and by the fuzzer (tests/fuzz/), on a view mapped read-only with
 * ioli_table_inspect(): nothing in the table changes.  Every index and
 * length read from the file is bounds-checked, so a damaged table prints
 * what can be read.
 */
#include <stdio.h>
#include <string.h>

#include "src/check/listing.h"

struct obj {
	uint32_t slot, type, refs, flags;
	char name[IOL_NAME_MAX + 1];
	uint32_t name_len;
	struct ioli_slot *s;
};

static uint32_t hwm_of(iol_table *t)
{
	uint32_t hwm = atomic_load(&t->hdr->hwm);

	return hwm > t->nslots ? t->nslots : hwm;
}

static bool read_obj(iol_table *t, uint32_t i, struct obj *o)
{
	struct ioli_slot *s = ioli_slot(t, i);
	uint32_t st = atomic_load(&s->state);

	if (!(st & IOLI_SLOT_LIVE))
		return false;
	o->slot = i;
	o->s = s;
	o->type = IOLI_SLOT_TYPE(st);
	o->flags = IOLI_SLOT_FLAGS(st);
	o->refs = atomic_load(&s->refs);
	/* handles, not iolayer's own references (a spawner's, a thread's) */
	uint32_t internal = atomic_load(&s->internal);
	if (o->refs >= internal)
		o->refs -= internal;
	o->name_len = atomic_load(&s->name_len);
	if (o->name_len > IOL_NAME_MAX || (o->flags & IOLI_OBJ_KEYED))
		o->name_len = 0;
	memcpy(o->name, s->name, o->name_len);
	o->name[o->name_len] = '\0';
	return true;
}

static const char *type_name(uint32_t type)
{
	return type == IOLI_TYPE_FILEREC ? "file-share" : iol_type_name((int)type);
}

/* The name for the text listing, non-printable bytes as \xNN. */
static void text_name(const struct obj *o, char *buf)
{
	char *p = buf;

	if (o->name_len == 0) {
		strcpy(buf, "-");
		return;
	}
	for (uint32_t i = 0; i < o->name_len; i++) {
		unsigned char c = (unsigned char)o->name[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	*p = '\0';
}

/* A name as a JSON string: bytes outside printable ASCII become \u00XX. */
static void json_name(FILE *out, const struct obj *o)
{
	fputc('"', out);
	for (uint32_t i = 0; i < o->name_len; i++) {
		unsigned char c = (unsigned char)o->name[i];

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void share_str(uint32_t bits, char *buf)
{
	int n = 0;

	if (bits & 1)
		buf[n++] = 'r';
	if (bits & 2)
		buf[n++] = 'w';
	if (bits & 4)
		buf[n++] = 'd';
	if (n == 0)
		buf[n++] = '-';
	buf[n] = '\0';
}

static uint64_t u64(_Atomic uint32_t *lo, _Atomic uint32_t *hi)
{
	return atomic_load(lo) | ((uint64_t)atomic_load(hi) << 32);
}

/* The state column, or the state members of a JSON object. */
static void state(iol_table *t, const struct obj *o, FILE *out, bool json)
{
	struct ioli_slot *s = o->s;
	uint32_t v = atomic_load(&s->word) & ~IOLI_W_LOCKED;
	char a[4], b[4];

	switch (o->type) {
	case IOL_TYPE_MUTEX: {
		uint32_t owner = v & IOLI_MX_OWNER_MASK;
		pid_t tid = 0;
		bool alive = owner && ioli_owner_alive(t, owner, &tid);
		bool abandoned = owner ? !alive : (v & IOLI_MX_ABANDONED) != 0;
		uint32_t rec = alive ? atomic_load(&s->u.mutex.recursion) : 0;

		if (json)
			fprintf(out, ",\"owner_tid\":%d,\"recursion\":%u,\"abandoned\":%s",
				(int)tid, rec, abandoned ? "true" : "false");
		else if (alive)
			fprintf(out, "owned by tid %d (recursion %u)", (int)tid, rec);
		else
			fprintf(out, "%s", abandoned ? "free, abandoned" : "free");
		break;
	}
	case IOL_TYPE_EVENT: {
		bool manual = o->flags & IOLI_OBJ_MANUAL, sig = v & IOLI_EV_SIGNALED;

		if (json)
			fprintf(out, ",\"manual_reset\":%s,\"signaled\":%s",
				manual ? "true" : "false", sig ? "true" : "false");
		else
			fprintf(out, "%s, %s", manual ? "manual" : "auto",
				sig ? "signaled" : "not signaled");
		break;
	}
	case IOL_TYPE_SEMAPHORE:
		if (json)
			fprintf(out, ",\"count\":%u,\"max\":%u", v & IOLI_SEM_COUNT_MASK,
				s->u.sem.max);
		else
			fprintf(out, "count %u/%u", v & IOLI_SEM_COUNT_MASK, s->u.sem.max);
		break;
	case IOL_TYPE_PROCESS: {
		uint32_t ps = atomic_load(&s->u.proc.status);
		bool ended = v & IOLI_SIG_SIGNALED;
		int pid = (int)atomic_load(&s->u.proc.pid);

		if (json) {
			fprintf(out, ",\"pid\":%d,\"ended\":%s", pid, ended ? "true" : "false");
			if (ps & IOLI_PS_HAVE)
				fprintf(out, ",\"exited\":%s,\"code\":%u,\"signal\":%u",
					(ps & IOLI_PS_EXITED) ? "true" : "false", ps & 0xffu,
					(ps >> 8) & 0xffu);
		} else if (!ended) {
			fprintf(out, "pid %d, running", pid);
		} else if (!(ps & IOLI_PS_HAVE)) {
			fprintf(out, "pid %d, ended (status unknown)", pid);
		} else if (ps & IOLI_PS_EXITED) {
			fprintf(out, "pid %d, exited %u", pid, ps & 0xffu);
		} else {
			fprintf(out, "pid %d, killed by signal %u%s", pid, (ps >> 8) & 0xffu,
				(ps & IOLI_PS_CORE) ? " (core dumped)" : "");
		}
		break;
	}
	case IOL_TYPE_THREAD: {
		bool ended = v & IOLI_SIG_SIGNALED;
		int tid = (int)atomic_load(&s->u.thread.tid);

		if (json)
			fprintf(out, ",\"tid\":%d,\"ended\":%s", tid, ended ? "true" : "false");
		else
			fprintf(out, "tid %d, %s", tid, ended ? "ended" : "running");
		break;
	}
	case IOL_TYPE_FILE:
		share_str(atomic_load(&s->u.fopen.access), a);
		share_str(atomic_load(&s->u.fopen.share), b);
		if (json)
			fprintf(out, ",\"access\":\"%s\",\"share\":\"%s\",\"record\":%u", a, b,
				atomic_load(&s->u.fopen.rec));
		else
			fprintf(out, "access %s, share %s (record slot %u)", a, b,
				atomic_load(&s->u.fopen.rec));
		break;
	case IOLI_TYPE_FILEREC: {
		uint64_t dev = u64(&s->u.frec.dev_lo, &s->u.frec.dev_hi);
		uint64_t ino = u64(&s->u.frec.ino_lo, &s->u.frec.ino_hi);

		if (json)
			fprintf(out,
				",\"dev\":%llu,\"ino\":%llu,\"opens\":%u,\"readers\":%u,"
				"\"writers\":%u,\"deleters\":%u,\"share_read\":%u,"
				"\"share_write\":%u,\"share_delete\":%u",
				(unsigned long long)dev, (unsigned long long)ino,
				atomic_load(&s->u.frec.opens), atomic_load(&s->u.frec.readers),
				atomic_load(&s->u.frec.writers), atomic_load(&s->u.frec.deleters),
				atomic_load(&s->u.frec.sh_read), atomic_load(&s->u.frec.sh_write),
				atomic_load(&s->u.frec.sh_delete));
		else
			fprintf(out,
				"dev %llu ino %llu: %u opens (r%u w%u d%u), shared r%u w%u d%u",
				(unsigned long long)dev, (unsigned long long)ino,
				atomic_load(&s->u.frec.opens), atomic_load(&s->u.frec.readers),
				atomic_load(&s->u.frec.writers), atomic_load(&s->u.frec.deleters),
				atomic_load(&s->u.frec.sh_read), atomic_load(&s->u.frec.sh_write),
				atomic_load(&s->u.frec.sh_delete));
		break;
	}
	default:
		if (json)
			fprintf(out, ",\"word\":%u", v);
		else
			fprintf(out, "unknown type %u (word %#x)", o->type, v);
	}
}

/* Handles process record p holds, from its row (pages it marked only). */
static uint64_t handles_of(iol_table *t, uint32_t p)
{
	_Atomic uint32_t *row = ioli_row(t, p);
	uint64_t n = 0;

	for (uint32_t page = 0; page * 1024u < t->nslots; page++) {
		if (!(atomic_load(&t->procs[p].row_pages[page / 64]) & (1ull << (page % 64))))
			continue;
		for (uint32_t i = page * 1024u; i < t->nslots && i < (page + 1) * 1024u; i++) {
			uint32_t held = atomic_load(&row[i]);

			/* not counting the reference a spawner or creator keeps */
			if (held && ioli_created_by(t, i, p, atomic_load(&t->procs[p].gen)) &&
			    atomic_load(&ioli_slot(t, i)->internal))
				held--;
			n += held;
		}
	}
	return n;
}

void ioli_list_text(iol_table *t, const char *path, FILE *out)
{
	uint32_t hwm = hwm_of(t), nattached = 0;
	struct obj o;

	for (uint32_t p = 0; p < ioli_proc_hwm(t); p++)
		nattached += atomic_load(&t->procs[p].state) == IOLI_PROC_LIVE;
	fprintf(out, "table %s (%s): %u slots, %u live objects, %u processes attached\n\n", t->name,
		path, t->nslots, atomic_load(&t->hdr->live), nattached);
	fprintf(out, "%6s  %-10s  %-24s %5s  %s\n", "SLOT", "TYPE", "NAME", "REFS", "STATE");
	for (uint32_t i = 0; i < hwm; i++) {
		if (!read_obj(t, i, &o))
			continue;
		char name[4 * IOL_NAME_MAX + 2];

		text_name(&o, name);
		fprintf(out, "%6u  %-10s  %-24s %5u  ", o.slot, type_name(o.type), name, o.refs);
		state(t, &o, out, false);
		fputc('\n', out);
	}
	fprintf(out, "\n%6s  %8s  %-6s  %8s\n", "RECORD", "PID", "STATE", "HANDLES");
	for (uint32_t p = 0; p < ioli_proc_hwm(t); p++) {
		struct ioli_proc *pr = &t->procs[p];

		if (atomic_load(&pr->state) != IOLI_PROC_LIVE)
			continue;
		fprintf(out, "%6u  %8d  %-6s  %8llu\n", p, (int)atomic_load(&pr->pid),
			ioli_proc_alive(t, p, atomic_load(&pr->gen)) ? "alive" : "dead",
			(unsigned long long)handles_of(t, p));
	}
}

void ioli_list_json(iol_table *t, const char *path, FILE *out)
{
	uint32_t hwm = hwm_of(t);
	bool first = true;
	struct obj o;

	fputs("{\"table\":", out);
	ioli_json_str(out, t->name);
	fputs(",\"path\":", out);
	ioli_json_str(out, path);
	fprintf(out, ",\"slots\":%u,\"live\":%u,\"objects\":[", t->nslots,
		atomic_load(&t->hdr->live));
	for (uint32_t i = 0; i < hwm; i++) {
		if (!read_obj(t, i, &o))
			continue;
		fprintf(out, "%s{\"slot\":%u,\"type\":\"%s\",\"name\":", first ? "" : ",", o.slot,
			type_name(o.type));
		json_name(out, &o);
		fprintf(out, ",\"refs\":%u", o.refs);
		state(t, &o, out, true);
		fputc('}', out);
		first = false;
	}
	fputs("],\"processes\":[", out);
	first = true;
	for (uint32_t p = 0; p < ioli_proc_hwm(t); p++) {
		struct ioli_proc *pr = &t->procs[p];

		if (atomic_load(&pr->state) != IOLI_PROC_LIVE)
			continue;
		fprintf(out, "%s{\"record\":%u,\"pid\":%d,\"alive\":%s,\"handles\":%llu}",
			first ? "" : ",", p, (int)atomic_load(&pr->pid),
			ioli_proc_alive(t, p, atomic_load(&pr->gen)) ? "true" : "false",
			(unsigned long long)handles_of(t, p));
		first = false;
	}
	fputs("]}\n", out);
}
