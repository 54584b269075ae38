/* SPDX-License-Identifier: MIT */
/*
 * Checks for code that runs where cmocka's assertions cannot: in a forked
 * child or a helper thread.  They print where and what failed and return 1
 * from the enclosing function; the test then asserts on that status.
 */
#ifndef IOLAYER_TESTS_CHECK_H
#define IOLAYER_TESTS_CHECK_H

#include <stdio.h>

#define T_CHECK(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

#define T_CHECK_EQ(a, b)                                                                           \
	do {                                                                                       \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);                            \
		if (t_a_ != t_b_) {                                                                \
			fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n",          \
				__FILE__, __LINE__, #a, #b, t_a_, t_b_);                           \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

#endif /* IOLAYER_TESTS_CHECK_H */
