/* libFuzzer target: the HTTPS client's response parser. The first byte
 * says whether the connection has closed. Invariants: never crashes or
 * leaks; a complete response's body is within the bound and inside the
 * input (or in memory the parser handed over); feeding the same bytes again
 * gives the same answer. */
#include "util/https_get.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const int eof = data[0] & 1;
	const size_t max_body = 512;
	/* A private copy: the parser must not read past it. */
	char *buf = malloc(size - 1 + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	const char *body = NULL;
	size_t body_len = 0;
	char *owned = NULL;
	char why[128];
	int rc = https_response_parse(buf, size - 1, eof, max_body, &body, &body_len, &owned, why,
	                              sizeof why);
	if (rc == 1) {
		if (body_len > max_body)
			abort();
		if (owned == NULL && (body < buf || body + body_len > buf + size - 1))
			abort();
		if (owned != NULL && body != owned)
			abort();
	} else if (rc != 0 && rc != -1) {
		abort();
	}
	const char *body2;
	size_t len2;
	char *owned2 = NULL;
	int rc2 = https_response_parse(buf, size - 1, eof, max_body, &body2, &len2, &owned2, why,
	                               sizeof why);
	if (rc2 != rc || (rc == 1 && (len2 != body_len || memcmp(body2, body, body_len) != 0)))
		abort();
	free(owned);
	free(owned2);
	free(buf);
	return 0;
}
