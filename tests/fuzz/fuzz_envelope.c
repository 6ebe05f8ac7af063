/* fuzz_envelope.c — libFuzzer target for core/stream/envelope: the strict
 * decoder, and envelope_open with a fixed key (MAC, topic, window, replay
 * table), so a mutated valid envelope walks every refusal path.
 *
 * Input: the envelope bytes; if it contains a 0x01 byte, what follows the
 * last one is used as the transport id. */
#include "stream/envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static envelope_keyring *kr;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (kr == NULL) {
		static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
		kr = envelope_keyring_new(300000, 64);
		if (kr == NULL || envelope_keyring_add(kr, key, sizeof key, 1, NULL) != CARACAL_OK)
			abort();
	}
	char tid[64];
	const char *tidp = NULL;
	size_t body = size;
	const uint8_t *sep = size > 0 ? memchr(data, 1, size) : NULL;
	if (sep != NULL) {
		const uint8_t *last = sep;
		while ((sep = memchr(last + 1, 1, size - (size_t)(last + 1 - data))) != NULL)
			last = sep;
		body = (size_t)(last - data);
		size_t n = size - body - 1;
		if (n < sizeof tid) {
			memcpy(tid, last + 1, n);
			tid[n] = '\0';
			tidp = tid;
		}
	}

	envelope_msg m;
	caracal_error err;
	if (envelope_decode(data, body, &m, &err) == CARACAL_OK) {
		/* Everything decoded must be within its documented bounds. */
		if (m.nfields == 0 || m.nfields > ENVELOPE_MAX_FIELDS || strlen(m.id) == 0 ||
		    strlen(m.id) > ENVELOPE_ID_MAX || strlen(m.topic) > ENVELOPE_TOPIC_MAX ||
		    strlen(m.kid) != ENVELOPE_KID_LEN || m.ts_us <= 0)
			abort();
		for (size_t i = 1; i < m.nfields; i++)
			if (strcmp(m.fields[i - 1].key, m.fields[i].key) >= 0)
				abort();
		(void)envelope_get(&m, "data");
		envelope_msg_clear(&m);
	}
	const char *why = NULL;
	int rc = envelope_open(kr, data, body, "caracal.audit.events", tidp,
	                       INT64_C(1779364800000000), &m, &why, &err);
	if (rc == CARACAL_OK)
		envelope_msg_clear(&m);
	else if (why == NULL)
		abort();
	(void)envelope_transport_time_us(tidp);
	return 0;
}
