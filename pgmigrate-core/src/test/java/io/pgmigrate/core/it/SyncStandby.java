package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresServer;
import org.postgresql.PGConnection;
import org.postgresql.PGProperty;
import org.postgresql.replication.LogSequenceNumber;
import org.postgresql.replication.PGReplicationStream;

import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A synchronous standby as the primary sees one: a physical replication client that receives the WAL and confirms it
 * flushed, the way {@code pg_receivewal --synchronous} does. While {@link #hold() held} it confirms nothing more, as a
 * standby that fell behind or hangs, so every commit on the primary that waits for it waits.
 */
final class SyncStandby implements AutoCloseable {

    private final Connection connection;
    private final PGReplicationStream stream;
    private final AtomicBoolean confirming = new AtomicBoolean(true);
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread receiver;

    private SyncStandby(Connection connection, PGReplicationStream stream) {
        this.connection = connection;
        this.stream = stream;
        this.receiver = new Thread(this::receive, "sync-standby");
        this.receiver.setDaemon(true);
        this.receiver.start();
    }

    /** Connects to {@code server} as standby {@code name} ({@code application_name}), streaming from its current WAL. */
    static SyncStandby start(PostgresServer server, String name) throws SQLException {
        String start = Fixtures.text(server, "postgres", "SELECT pg_current_wal_lsn()::text");
        Properties props = new Properties();
        PGProperty.USER.set(props, server.superuser());
        server.endpoint().password().ifPresent(p -> PGProperty.PASSWORD.set(props, p));
        PGProperty.REPLICATION.set(props, "true");
        PGProperty.ASSUME_MIN_SERVER_VERSION.set(props, "10");
        PGProperty.PREFER_QUERY_MODE.set(props, "simple");
        PGProperty.APPLICATION_NAME.set(props, name);
        Connection c = DriverManager.getConnection(server.endpoint().jdbcUrl("postgres"), props);
        try {
            PGReplicationStream s = c.unwrap(PGConnection.class).getReplicationAPI().replicationStream().physical()
                    .withStartPosition(LogSequenceNumber.valueOf(start))
                    .withStatusInterval(100, TimeUnit.MILLISECONDS)
                    .start();
            return new SyncStandby(c, s);
        } catch (SQLException | RuntimeException e) {
            c.close();
            throw e;
        }
    }

    /** From now on confirms nothing more. */
    void hold() {
        confirming.set(false);
    }

    /** Confirms everything received again. */
    void resume() {
        confirming.set(true);
    }

    private void receive() {
        try {
            while (running.get()) {
                ByteBuffer b = stream.readPending();
                if (confirming.get()) {
                    LogSequenceNumber received = stream.getLastReceiveLSN();
                    stream.setFlushedLSN(received);
                    stream.setAppliedLSN(received);
                    if (b != null) {
                        stream.forceUpdateStatus();
                    }
                }
                if (b == null) {
                    TimeUnit.MILLISECONDS.sleep(5); // nothing pending: poll again shortly
                }
            }
        } catch (SQLException | RuntimeException e) {
            if (running.get()) {
                throw new IllegalStateException("the standby's stream failed", e);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws Exception {
        running.set(false);
        receiver.join(TimeUnit.SECONDS.toMillis(10));
        try {
            stream.close();
        } finally {
            connection.close();
        }
    }
}
