/* SPDX-License-Identifier: MIT */
/*
 * What every Check unit test shares: running its one suite and turning the
 * result into the exit status the automake test driver reads.  A test builds
 * its Suite and ends main with `return unit_run(s, CK_FORK_GETENV);`.
 */
#ifndef SENDAS_TESTS_UNIT_H
#define SENDAS_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

/*
 * unit_run - run every test of s and free the runner.  fork: CK_FORK_GETENV
 * (Check's default: fork unless CK_FORK=no) or CK_NOFORK for a suite whose
 * unchecked fixture must share the process with its tests.  Returns
 * EXIT_SUCCESS when every test passed, EXIT_FAILURE otherwise.
 */
static inline int unit_run(Suite *s, enum fork_status fork)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_set_fork_status(sr, fork);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
