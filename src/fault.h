/* SPDX-License-Identifier: MIT */
/*
 * Fault injection: named points inside table operations where a process
 * built with `make FAULT=1` can be made to die, to test that every other
 * process survives it.  IOLAYER_FAULT=point[:n] makes the process _exit(86)
 * at the n-th time (default 1) it passes `point`; the point "any" counts
 * every point.  In a normal build IOLI_FAULT() is nothing at all.
 */
#ifndef IOLAYER_SRC_FAULT_H
#define IOLAYER_SRC_FAULT_H

#ifdef IOLI_FAULT_INJECTION
void ioli_fault_point(const char *name);
#define IOLI_FAULT(name) ioli_fault_point(name)
#else
#define IOLI_FAULT(name) ((void)0)
#endif

#define IOLI_FAULT_EXIT 86

#endif
