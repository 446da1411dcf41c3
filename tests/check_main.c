/*
 * The unit test runner: every module's Check suite in one run.
 */
#include <check.h>
#include <stdlib.h>

Suite	*addr_suite(void);
Suite	*alias_suite(void);
Suite	*auth_suite(void);
Suite	*conf_suite(void);
Suite	*confs_suite(void);
Suite	*header_suite(void);
Suite	*mime_suite(void);
Suite	*msg_suite(void);
Suite	*serve_suite(void);
Suite	*smtp_suite(void);

int
main(void)
{
	SRunner	*sr = srunner_create(addr_suite());
	int	 failed;

	srunner_add_suite(sr, alias_suite());
	srunner_add_suite(sr, auth_suite());
	srunner_add_suite(sr, conf_suite());
	srunner_add_suite(sr, confs_suite());
	srunner_add_suite(sr, header_suite());
	srunner_add_suite(sr, mime_suite());
	srunner_add_suite(sr, msg_suite());
	srunner_add_suite(sr, serve_suite());
	srunner_add_suite(sr, smtp_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
