package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Lsn;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.sql.Sessions;
import org.postgresql.PGConnection;
import org.postgresql.replication.LogSequenceNumber;
import org.postgresql.replication.PGReplicationStream;
import org.postgresql.replication.fluent.logical.ChainedLogicalStreamBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;
import static java.util.Objects.requireNonNull;

/**
 * One database's logical replication stream from a slot, read with pgjdbc's replication API on a connection of its
 * own and decoded with {@link PgOutputDecoder}.
 *
 * <p>What the server may forget is only what {@link #confirm(Lsn)} was told: the caller confirms a position once the
 * target has durably committed everything before it. Status updates go out at least every {@code statusInterval}
 * (a third of the source's {@code wal_sender_timeout} or less), also while the caller is busy between reads, as long
 * as it calls {@link #keepAlive()}.
 */
public final class LogicalStream implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LogicalStream.class);

    /**
     * The connection's settings: it idles between messages, which no statement or idle timeout may end; and the
     * walsender prints values in text forms the target reads back the same whatever either server's defaults (as
     * PostgreSQL's own walreceiver pins them): an interval in {@code sql_standard} style, read as {@code postgres},
     * would change its sign.
     */
    private static final String OPTIONS = "-c statement_timeout=0 -c idle_in_transaction_session_timeout=0"
            + " -c intervalstyle=postgres -c datestyle=ISO -c extra_float_digits=3 -c lc_monetary=C";

    /** What the stream asks of {@code pgoutput}, decided by the source's major version. */
    public record Options(String publication, int sourceMajor, boolean originNone) {
        public Options {
            requireNonNull(publication, "publication");
            if (originNone && sourceMajor < 16) {
                throw new IllegalArgumentException("origin = none needs a source of PostgreSQL 16 or later, not "
                        + sourceMajor);
            }
        }

        /**
         * Protocol 2 from PostgreSQL 14 on: it streams large transactions while they run ({@code streaming = on}) and
         * carries logical decoding messages. Versions 3 (two-phase) and 4 (parallel apply of streamed transactions) add nothing this reader
         * uses.
         */
        int protocolVersion() {
            return sourceMajor >= 14 ? 2 : 1;
        }
    }

    private final Connection connection;
    private final PGReplicationStream stream;
    private final PgOutputDecoder decoder = new PgOutputDecoder();
    private final String database;
    private final long statusIntervalNanos;
    private volatile Lsn confirmed;
    private long lastStatus = System.nanoTime();
    private byte[] raw;

    private LogicalStream(Connection connection, PGReplicationStream stream, String database, Lsn from,
                          Duration statusInterval) {
        this.connection = connection;
        this.statusIntervalNanos = statusInterval.toNanos();
        this.stream = stream;
        this.database = database;
        this.confirmed = from;
    }

    /**
     * Starts streaming slot {@code slot} of {@code database} from {@code from}: transactions that committed before it
     * are not sent again (the server starts at its slot's confirmed position when that is later).
     *
     * @throws PgMigrateException {@link CoreErrorCode#REPLICATION_FAILED} with the server's message
     */
    public static LogicalStream start(Connector source, String database, String slot, Lsn from, Options options,
                                      Duration statusInterval) {
        Connection c = source.connectForReplication(database, OPTIONS);
        try {
            ChainedLogicalStreamBuilder b = c.unwrap(PGConnection.class).getReplicationAPI().replicationStream()
                    .logical()
                    .withSlotName(slot)
                    .withStartPosition(LogSequenceNumber.valueOf(from.value()))
                    .withSlotOption("proto_version", Integer.toString(options.protocolVersion()))
                    // a list of identifiers, parsed as SQL identifiers are
                    .withSlotOption("publication_names", quote(options.publication()))
                    .withStatusInterval((int) Math.max(1, statusInterval.toMillis()), TimeUnit.MILLISECONDS);
            if (options.sourceMajor() >= 14) {
                // large transactions arrive while they run, in blocks, instead of all at once after a spill to disk
                b = b.withSlotOption("messages", "true").withSlotOption("streaming", "on");
            }
            if (options.originNone()) {
                b = b.withSlotOption("origin", "none");
            }
            PGReplicationStream stream = b.start();
            LOG.debug("{}: streaming slot {} from {} (protocol {})", database, slot, from, options.protocolVersion());
            return new LogicalStream(c, stream, database, from, statusInterval);
        } catch (SQLException e) {
            Sessions.closeQuietly(c);
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot stream replication"
                    + " slot " + slot + " from the source (is another process reading it? the slot is active until"
                    + " that process ends)", e);
        }
    }

    /**
     * The next message, waiting up to {@code wait} for one; {@code null} when none came. Sends a status update when
     * one is due, also while waiting.
     *
     * @throws SQLException when the stream broke
     */
    public PgOutputMessage read(Duration wait) throws SQLException {
        long deadline = System.nanoTime() + wait.toNanos();
        // pgjdbc's readPending() itself waits up to a millisecond for data; between attempts a short pause that grows
        // to 20 ms keeps a busy stream moving and an idle one cheap
        long park = 50_000L;
        while (true) {
            ByteBuffer buffer = stream.readPending();
            if (buffer != null) {
                try {
                    int start = buffer.position();
                    int end = buffer.limit();
                    PgOutputMessage m = decoder.decode(buffer);
                    if (m.streamXid().isPresent() || m instanceof PgOutputMessage.Origin) {
                        // kept until the transaction commits or aborts, as it came (an origin, which has no
                        // transaction id, when it comes in a streamed transaction's first block)
                        raw = new byte[end - start];
                        buffer.get(start, raw);
                    } else {
                        raw = null;
                    }
                    return m;
                } catch (IllegalArgumentException e) {
                    throw new SQLException(database + ": cannot decode the replication stream at "
                            + Lsn.parse(stream.getLastReceiveLSN().asString()) + ": " + e.getMessage(), e);
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
            LockSupport.parkNanos(Math.min(park, left));
            park = Math.min(park * 2, 20_000_000L);
        }
    }

    /** The bytes of the last message read, when it may belong to a streamed transaction; null otherwise. */
    public byte[] raw() {
        return raw;
    }

    /** The start of the last message received (for a commit: its transaction's records are all before its end). */
    public Lsn lastReceived() {
        return new Lsn(stream.getLastReceiveLSN().asLong());
    }

    /**
     * Tells the server that everything before {@code lsn} is durably on the target, so the slot may release the WAL
     * before it. Never moves backwards.
     */
    public void confirm(Lsn lsn) throws SQLException {
        if (lsn.compareTo(confirmed) <= 0) {
            return;
        }
        confirmed = lsn;
        LogSequenceNumber l = LogSequenceNumber.valueOf(lsn.value());
        stream.setAppliedLSN(l);
        stream.setFlushedLSN(l);
        stream.forceUpdateStatus();
        lastStatus = System.nanoTime();
    }

    /**
     * Sends a status update if none went out for the status interval; for callers that spend a while between reads
     * (reading would take the next message, which they are not ready for).
     */
    public void keepAlive() throws SQLException {
        long now = System.nanoTime();
        if (now - lastStatus >= statusIntervalNanos) {
            stream.forceUpdateStatus();
            lastStatus = now;
        }
    }

    @Override
    public void close() {
        try {
            if (!stream.isClosed()) {
                stream.close();
            }
        } catch (SQLException e) {
            LOG.debug("{}: closing the replication stream: {}", database, e.getMessage());
        } finally {
            Sessions.closeQuietly(connection);
        }
    }
}
