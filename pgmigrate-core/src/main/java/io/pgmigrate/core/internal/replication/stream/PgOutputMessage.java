package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.Lsn;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.OptionalInt;

import static java.util.Objects.requireNonNull;

/**
 * One message of PostgreSQL's logical replication protocol as the {@code pgoutput} plugin sends it (protocol versions 1
 * to 4). Messages of a streamed, still running transaction carry its xid ({@link #streamXid()}); the others do not.
 */
public sealed interface PgOutputMessage {

    /** The xid of the streamed transaction this message belongs to, when it was sent inside a stream block. */
    default OptionalInt streamXid() {
        return OptionalInt.empty();
    }

    /** 'B': a transaction begins; its changes follow, then its {@link Commit}. */
    record Begin(Lsn finalLsn, Instant commitTime, int xid) implements PgOutputMessage {
    }

    /**
     * 'C': the transaction commits. {@code endLsn} is where the next transaction's records start: the position to
     * resume from, and the one recorded as replication progress.
     */
    record Commit(Lsn commitLsn, Lsn endLsn, Instant commitTime) implements PgOutputMessage {
    }

    /** 'O': the transaction was replicated into the source from elsewhere, by the named replication origin. */
    record Origin(Lsn originLsn, String name) implements PgOutputMessage {
    }

    /**
     * 'R': the shape of a table, sent before its first change in a session and again after it changed.
     * {@code replicaIdentity} is {@code d} (default: the primary key), {@code n} (nothing), {@code f} (full) or
     * {@code i} (an index).
     */
    record Relation(OptionalInt streamXid, int oid, String schema, String name, char replicaIdentity,
                    List<Column> columns) implements PgOutputMessage {
        public Relation {
            columns = List.copyOf(columns);
        }
    }

    /** One column of a {@link Relation}; {@code key} when it belongs to the replica identity. */
    record Column(boolean key, String name, int typeOid, int typeModifier) {
    }

    /** 'Y': a data type outside {@code pg_catalog} that a following relation uses. */
    record Type(OptionalInt streamXid, int oid, String schema, String name) implements PgOutputMessage {
    }

    /** 'I': a row inserted. */
    record Insert(OptionalInt streamXid, int relation, TupleData row) implements PgOutputMessage {
    }

    /**
     * 'U': a row updated. {@code old} is present when the replica identity changed ({@code oldKind} 'K', the old key)
     * or is FULL ({@code oldKind} 'O', the whole old row); otherwise the key is in {@code row} and {@code oldKind} is
     * 0.
     */
    record Update(OptionalInt streamXid, int relation, char oldKind, TupleData old, TupleData row)
            implements PgOutputMessage {
    }

    /** 'D': a row deleted; {@code old} holds its key ('K') or, for replica identity FULL, the whole row ('O'). */
    record Delete(OptionalInt streamXid, int relation, char oldKind, TupleData old) implements PgOutputMessage {
    }

    /** 'T': tables truncated in one statement. */
    record Truncate(OptionalInt streamXid, boolean cascade, boolean restartIdentity, List<Integer> relations)
            implements PgOutputMessage {
        public Truncate {
            relations = List.copyOf(relations);
        }
    }

    /** 'M': a logical decoding message ({@code pg_logical_emit_message}). */
    record LogicalMessage(OptionalInt streamXid, boolean transactional, Lsn lsn, String prefix, byte[] content)
            implements PgOutputMessage {

        /** The content as UTF-8 text. */
        public String text() {
            return new String(content, StandardCharsets.UTF_8);
        }
    }

    /** 'S': a block of a large transaction that is still running begins; {@code first} for its first block. */
    record StreamStart(int xid, boolean first) implements PgOutputMessage {
    }

    /** 'E': the current stream block ends. */
    record StreamStop() implements PgOutputMessage {
    }

    /** 'c': a streamed transaction commits. */
    record StreamCommit(int xid, Lsn commitLsn, Lsn endLsn, Instant commitTime) implements PgOutputMessage {
    }

    /** 'A': a streamed transaction, or one of its subtransactions ({@code subXid} != {@code xid}), aborted. */
    record StreamAbort(int xid, int subXid) implements PgOutputMessage {
    }

    /** The columns of one row, in the relation's column order. */
    record TupleData(List<Value> values) {
        public TupleData {
            values = List.copyOf(values);
        }
    }

    /** One column's value in a {@link TupleData}. */
    sealed interface Value {
    }

    /** 'n': SQL NULL. */
    enum Null implements Value { INSTANCE }

    /**
     * 'u': a TOASTed value the change did not touch; the source did not send it, so the target's value stays as it
     * is. Never a NULL.
     */
    enum Unchanged implements Value { INSTANCE }

    /** 't': the value in the type's text form. */
    record Text(String text) implements Value {
        public Text {
            requireNonNull(text, "text");
        }
    }

    /** 'b': the value in the type's binary form. */
    record Binary(byte[] bytes) implements Value {
        public Binary {
            requireNonNull(bytes, "bytes");
        }
    }
}
