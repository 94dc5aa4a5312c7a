package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.Lsn;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Begin;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Column;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Commit;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Delete;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Insert;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.LogicalMessage;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Origin;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Relation;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamAbort;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamCommit;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamStart;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamStop;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Truncate;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.TupleData;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Type;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Update;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Value;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * Decodes the {@code pgoutput} plugin's messages (the payload of each XLogData message of a logical replication
 * stream) into {@link PgOutputMessage} records. Stateful in one respect only: between a Stream Start and a Stream Stop,
 * the data messages carry the streamed transaction's xid.
 *
 * <p>The streams this decoder reads are started without {@code two_phase} and with {@code streaming} {@code on}, never
 * {@code parallel}: a message this decoder does not know, or a tuple column of a kind it does not know, is an error,
 * never skipped, since skipping would drop a change.
 */
public final class PgOutputDecoder {

    /** PostgreSQL's epoch, 2000-01-01 UTC, in microseconds since the Unix epoch. */
    private static final long PG_EPOCH_MICROS = 946_684_800_000_000L;

    private boolean inStream;

    /** A decoder for a stream from its start. */
    public PgOutputDecoder() {
        this(false);
    }

    /** A decoder that starts inside a stream block: for data messages of a streamed transaction read back later. */
    PgOutputDecoder(boolean inStream) {
        this.inStream = inStream;
    }

    /**
     * Decodes one message.
     *
     * @param buffer the message, from its type byte to its end; consumed
     * @throws IllegalArgumentException for a malformed or unknown message, naming its type
     */
    public PgOutputMessage decode(ByteBuffer buffer) {
        if (!buffer.hasRemaining()) {
            throw new IllegalArgumentException("empty pgoutput message");
        }
        char type = (char) buffer.get();
        try {
            PgOutputMessage m = switch (type) {
                case 'B' -> new Begin(lsn(buffer), time(buffer), buffer.getInt());
                case 'C' -> {
                    buffer.get(); // flags, unused
                    yield new Commit(lsn(buffer), lsn(buffer), time(buffer));
                }
                case 'O' -> new Origin(lsn(buffer), string(buffer));
                case 'R' -> relation(buffer);
                case 'Y' -> new Type(xid(buffer), buffer.getInt(), string(buffer), string(buffer));
                case 'I' -> {
                    OptionalInt xid = xid(buffer);
                    int relation = buffer.getInt();
                    expect(buffer, 'N', "an insert's new row");
                    yield new Insert(xid, relation, tuple(buffer));
                }
                case 'U' -> update(buffer);
                case 'D' -> {
                    OptionalInt xid = xid(buffer);
                    int relation = buffer.getInt();
                    char kind = (char) buffer.get();
                    if (kind != 'K' && kind != 'O') {
                        throw new IllegalArgumentException("a delete's old row is marked '" + kind
                                + "', not 'K' or 'O'");
                    }
                    yield new Delete(xid, relation, kind, tuple(buffer));
                }
                case 'T' -> {
                    OptionalInt xid = xid(buffer);
                    int n = buffer.getInt();
                    byte options = buffer.get();
                    List<Integer> relations = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        relations.add(buffer.getInt());
                    }
                    yield new Truncate(xid, (options & 1) != 0, (options & 2) != 0, relations);
                }
                case 'M' -> {
                    OptionalInt xid = xid(buffer);
                    boolean transactional = (buffer.get() & 1) != 0;
                    Lsn lsn = lsn(buffer);
                    String prefix = string(buffer);
                    byte[] content = new byte[buffer.getInt()];
                    buffer.get(content);
                    yield new LogicalMessage(xid, transactional, lsn, prefix, content);
                }
                case 'S' -> {
                    StreamStart s = new StreamStart(buffer.getInt(), buffer.get() == 1);
                    inStream = true;
                    yield s;
                }
                case 'E' -> {
                    inStream = false;
                    yield new StreamStop();
                }
                case 'c' -> {
                    int xid = buffer.getInt();
                    buffer.get(); // flags, unused
                    yield new StreamCommit(xid, lsn(buffer), lsn(buffer), time(buffer));
                }
                case 'A' -> new StreamAbort(buffer.getInt(), buffer.getInt());
                default -> throw new IllegalArgumentException("unknown pgoutput message type '" + type + "'");
            };
            if (buffer.hasRemaining()) {
                throw new IllegalArgumentException(buffer.remaining() + " bytes left after the message");
            }
            return m;
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("pgoutput message '" + type + "' is truncated", e);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("pgoutput message")) {
                throw e;
            }
            throw new IllegalArgumentException("pgoutput message '" + type + "': " + e.getMessage(), e);
        }
    }

    private Relation relation(ByteBuffer b) {
        OptionalInt xid = xid(b);
        int oid = b.getInt();
        String schema = string(b);
        String name = string(b);
        char identity = (char) b.get();
        int n = Short.toUnsignedInt(b.getShort());
        List<Column> columns = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            boolean key = (b.get() & 1) != 0;
            columns.add(new Column(key, string(b), b.getInt(), b.getInt()));
        }
        // pgoutput sends an empty namespace for pg_catalog
        return new Relation(xid, oid, schema.isEmpty() ? "pg_catalog" : schema, name, identity, columns);
    }

    private Update update(ByteBuffer b) {
        OptionalInt xid = xid(b);
        int relation = b.getInt();
        char kind = (char) b.get();
        TupleData old = null;
        char oldKind = 0;
        if (kind == 'K' || kind == 'O') {
            oldKind = kind;
            old = tuple(b);
            kind = (char) b.get();
        }
        if (kind != 'N') {
            throw new IllegalArgumentException("an update's new row is marked '" + kind + "', not 'N'");
        }
        return new Update(xid, relation, oldKind, old, tuple(b));
    }

    private OptionalInt xid(ByteBuffer b) {
        return inStream ? OptionalInt.of(b.getInt()) : OptionalInt.empty();
    }

    private static void expect(ByteBuffer b, char expected, String what) {
        char got = (char) b.get();
        if (got != expected) {
            throw new IllegalArgumentException(what + " is marked '" + got + "', not '" + expected + "'");
        }
    }

    private static TupleData tuple(ByteBuffer b) {
        int n = Short.toUnsignedInt(b.getShort());
        List<Value> values = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            char kind = (char) b.get();
            values.add(switch (kind) {
                case 'n' -> PgOutputMessage.Null.INSTANCE;
                case 'u' -> PgOutputMessage.Unchanged.INSTANCE;
                case 't' -> new PgOutputMessage.Text(new String(bytes(b), StandardCharsets.UTF_8));
                case 'b' -> new PgOutputMessage.Binary(bytes(b));
                default -> throw new IllegalArgumentException("column " + (i + 1) + " of a row has the unknown kind '"
                        + kind + "'");
            });
        }
        return new TupleData(values);
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] bytes = new byte[b.getInt()];
        b.get(bytes);
        return bytes;
    }

    private static Lsn lsn(ByteBuffer b) {
        return new Lsn(b.getLong());
    }

    private static Instant time(ByteBuffer b) {
        long micros = b.getLong() + PG_EPOCH_MICROS;
        return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1000L);
    }

    private static String string(ByteBuffer b) {
        int start = b.position();
        int end = start;
        while (end < b.limit() && b.get(end) != 0) {
            end++;
        }
        if (end == b.limit()) {
            throw new BufferUnderflowException();
        }
        byte[] bytes = new byte[end - start];
        b.get(bytes);
        b.get(); // the terminating zero
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
