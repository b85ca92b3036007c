/* check.h: MSS_MUST_CHECK, for the helpers whose result says that something was cut or
 * refused (str_copy, str_format, the buf_* that honour a limit, html_escape).
 *
 * A truncation is an error the caller handles (a protocol error, a log line with error=,
 * a refusal), never silent (OpenSMTPD's `if (strlcpy(...) >= sizeof(...))`). Where it is
 * provably impossible, the caller says why through str_assert (lib/str.h); human-readable
 * error text that may be cut goes through str_error. gcc's warn_unused_result is not
 * silenced by a (void) cast, and -Werror makes a missed result a build failure.
 *
 * Always on, in every folder (lib, the parts, the daemons, mssctl, the tests, the fuzz
 * targets); scripts/check-style fails if this definition is made conditional or a
 * helper loses it. */
#ifndef MSS_CHECK_H
#define MSS_CHECK_H

#define MSS_MUST_CHECK __attribute__((warn_unused_result))

#endif
