/*
 * gort_test.h: the C test harness shared by every gort library.
 *
 * A test file includes this header and defines tests:
 *
 *     TEST(spawn_many) { CHECK_EQ(count, 100); }
 *
 * and <lib>/test/tests.def registers each one, with its timeout in
 * seconds, on a line of its own:
 *
 *     TEST_CASE(spawn_many, 10)
 *     DEATH_CASE(deadlock_aborts, 10, "deadlock!")
 *
 * The runner (runner.c, built once per library and variant) runs every
 * test in a process of its own, so a crash, a hang or a runtime left in
 * a strange state ends that test and nothing else. A DEATH_CASE passes
 * only if its process dies (a signal or a nonzero exit) and its stderr
 * holds the expected text.
 *
 * A failed CHECK prints what was compared, both values and file:line on
 * stderr, then aborts: the test stops at its first broken assertion.
 */
#ifndef GORT_TEST_H
#define GORT_TEST_H

#include <stdint.h>
#include <string.h>

#define TEST(name) void gtest_##name(void)

/* Prints "file:line: " and the formatted message on stderr, then
 * aborts. Defined by the runner. */
_Noreturn void gtest__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The factor GORT_TEST_TIMEOUT_SCALE sets (1 when unset). Tests that
 * bound a duration multiply the bound by it, as the runner does the
 * timeouts, so that slow builds (ASan, valgrind) do not fail them. */
double gtest_scale(void);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            gtest__fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);        \
    } while (0)

#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            gtest__fail(__FILE__, __LINE__, __VA_ARGS__);                      \
    } while (0)

/* Each operand is evaluated once and compared as intmax_t. */
#define GTEST__CMP(name, a, op, b)                                             \
    do {                                                                       \
        intmax_t gtest_a_ = (intmax_t)(a);                                     \
        intmax_t gtest_b_ = (intmax_t)(b);                                     \
        if (!(gtest_a_ op gtest_b_))                                           \
            gtest__fail(__FILE__, __LINE__,                                    \
                        "%s(%s, %s) failed: %jd %s %jd is false", name, #a,    \
                        #b, gtest_a_, #op, gtest_b_);                          \
    } while (0)

#define CHECK_EQ(a, b) GTEST__CMP("CHECK_EQ", a, ==, b)
#define CHECK_NE(a, b) GTEST__CMP("CHECK_NE", a, !=, b)
#define CHECK_LT(a, b) GTEST__CMP("CHECK_LT", a, <, b)
#define CHECK_LE(a, b) GTEST__CMP("CHECK_LE", a, <=, b)
#define CHECK_GT(a, b) GTEST__CMP("CHECK_GT", a, >, b)
#define CHECK_GE(a, b) GTEST__CMP("CHECK_GE", a, >=, b)

/* NULL compares equal only to NULL. */
#define CHECK_STREQ(a, b)                                                      \
    do {                                                                       \
        const char *gtest_a_ = (a);                                            \
        const char *gtest_b_ = (b);                                            \
        if (gtest_a_ == NULL || gtest_b_ == NULL                               \
                ? gtest_a_ != gtest_b_                                         \
                : strcmp(gtest_a_, gtest_b_) != 0)                             \
            gtest__fail(__FILE__, __LINE__,                                    \
                        "CHECK_STREQ(%s, %s) failed: \"%s\" != \"%s\"", #a,    \
                        #b, gtest_a_ ? gtest_a_ : "(null)",                    \
                        gtest_b_ ? gtest_b_ : "(null)");                       \
    } while (0)

#endif
