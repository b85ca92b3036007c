/* imap_reader.h: reading commands from the client: lines and literals through
 * lib/conn's bounded reader into the incremental parser (imap/imap_parser.h).
 *
 * Limits live here, not in handlers: a line is at most imap_max_line octets; a
 * command's literals together at most four lines' worth, except APPEND's message
 * literals, which a logged-in client may send up to max_message_size and which are
 * streamed by the APPEND handler instead of being held (RFC 7888: a refused
 * non-synchronising literal is read and dropped, or the session ends). */
#ifndef MSS_IMAP_READER_H
#define MSS_IMAP_READER_H

#include <stddef.h>

#include "imapd/imap_session.h"

enum imap_read {
	IMAP_READ_COMMAND, /* a whole command is parsed: dispatch it */
	IMAP_READ_STREAM,  /* a command that reads its own literals (CMD_STREAM) stopped at one */
	IMAP_READ_REPLIED, /* refused before dispatch (the reply is written): read the next */
	IMAP_READ_CLOSE,   /* EOF, I/O error, timeout, or a literal that cannot be skipped */
};

/* Reads the next command into s->parser. Once the client has been silent for
 * imap_idle_release, releases the session's caches first (imap_release_memory). */
enum imap_read imap_read_command(struct imap_session *s);
/* Gives back what the session caches between commands: the store's (store_release_memory:
 * SQLite's page cache, the last decrypted message, wiped) and malloc's free pages.
 * Costs only a re-read of what the next command needs. */
void imap_release_memory(struct imap_session *s);

/* For CMD_STREAM handlers, with the parser stopped at a literal. */
/* Accepts the literal ("+" when synchronising) and gives its octets to fn in pieces;
 * fn returns 0 to go on, non-zero to stop taking them (the rest is read and dropped).
 * Then the literal counts as read (imap_parser_literal_streamed). Returns 0, or -1
 * when the connection failed (the session ends). */
int imap_literal_stream(struct imap_session *s, int (*fn)(void *arg, const char *p, size_t n), void *arg);
/* Reads the literal into the command (at most limit octets, and the command at most
 * four lines' worth, else -2: refused with a tagged NO/BAD written). Returns 0, -1 on
 * a connection failure, -2. */
int imap_literal_read(struct imap_session *s, size_t limit);
/* Refuses the literal after a tagged reply was written: a synchronising one was never
 * sent (the command ends: 0); a non-synchronising one is read and dropped, and the
 * command goes on (1); -1 when it was too big to drop (BYE, the session ends). */
int imap_literal_refuse(struct imap_session *s);
/* After a tagged reply that ends the command early: refuses the pending literal and
 * reads and drops the rest of the command (its further non-synchronising literals). */
void imap_command_drain(struct imap_session *s);
/* Reads the command's next line into the parser. Returns the parse result
 * (IMAP_PARSE_*), or -1 on a connection failure or an over-long line. */
int imap_read_more(struct imap_session *s);

#endif
