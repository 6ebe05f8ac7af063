/* uuid.h — RFC 9562 UUIDv7 (time-ordered, 74 random bits) as lowercase text. */
#ifndef CARACAL_CORE_UUID_H
#define CARACAL_CORE_UUID_H

#define UUID_TEXT_LEN 36

/* Writes 36 characters and a NUL into out (37 bytes). -1 when no randomness. */
int uuid_v7(char out[UUID_TEXT_LEN + 1]);

/* Whether s is a textual UUID of any version: 8-4-4-4-12 hex digits. */
int uuid_is_text(const char *s);

#endif
