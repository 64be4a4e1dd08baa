/*
 * gpy.h: the C half of gort.go(), goroutines that run Python code
 * (gpy.c), shared with the source the CFFI builder generates for
 * gort._gort.
 */
#ifndef GPY_H
#define GPY_H

#include <stdint.h>

#include "gort_sched.h"

/* 1 if this Python can run goroutines, else 0. */
int gpy_supported(void);

/* Starts a goroutine that calls gort._go._run(token) with a Python
 * thread state of its own. Returns 0, -EINVAL for a token <= 0, -ENOSYS
 * where gpy_supported() is 0, or gort_go's -ENOMEM. */
int gpy_go(int64_t token);

#endif
