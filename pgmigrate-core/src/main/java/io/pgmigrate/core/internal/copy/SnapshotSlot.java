package io.pgmigrate.core.internal.copy;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Lsn;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.sql.Sessions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * A logical replication slot created with an exported snapshot: the snapshot shows the database exactly as it was at
 * the slot's consistent point, so rows copied in it and changes streamed from the slot meet there, with no gap and no
 * overlap. The snapshot lives as long as this object's replication connection stays open and is sent nothing more
 * (PostgreSQL ends it at the next command), so the connection is held here and never used again; closing this object
 * ends the snapshot and leaves the slot.
 */
public final class SnapshotSlot implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SnapshotSlot.class);

    /**
     * The replication connection's settings: the walsender holds the snapshot in an open transaction, idle until the
     * copy ends, which a server's idle or statement timeout must not end.
     */
    private static final String HOLDER_OPTIONS = "-c statement_timeout=0 -c idle_in_transaction_session_timeout=0";

    private final Connection connection;
    private final String slot;
    private final Lsn consistentPoint;
    private final String snapshot;

    private SnapshotSlot(Connection connection, String slot, Lsn consistentPoint, String snapshot) {
        this.connection = connection;
        this.slot = slot;
        this.consistentPoint = consistentPoint;
        this.snapshot = snapshot;
    }

    /**
     * Creates the logical slot {@code slot} (plugin pgoutput) on {@code database} and keeps the snapshot it exports.
     * Waits until every transaction that was running on the source has ended, as any slot's creation does. The
     * publications the stream will read must exist before: the slot decodes with the catalog of each change's time.
     *
     * @throws PgMigrateException {@link CoreErrorCode#REPLICATION_FAILED} with the server's message
     */
    public static SnapshotSlot create(Connector source, String database, String slot) {
        Connection c = source.connectForReplication(database, HOLDER_OPTIONS);
        try (Statement st = c.createStatement()) {
            // No snapshot option: every release from 10 exports one by default, and the legacy and the new option
            // syntax each work on only some of them.
            st.execute("CREATE_REPLICATION_SLOT " + quote(slot) + " LOGICAL pgoutput");
            try (ResultSet rs = st.getResultSet()) {
                if (rs == null || !rs.next() || rs.getString("snapshot_name") == null) {
                    throw new SQLException("CREATE_REPLICATION_SLOT returned no snapshot");
                }
                Lsn point = Lsn.parse(rs.getString("consistent_point"));
                String snapshot = rs.getString("snapshot_name");
                LOG.info("{}: created replication slot {} at {} with snapshot {}", database, slot, point, snapshot);
                return new SnapshotSlot(c, slot, point, snapshot);
            }
        } catch (SQLException e) {
            Sessions.closeQuietly(c);
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "cannot create replication"
                    + " slot " + slot + " with an exported snapshot on the source (the migration role needs the"
                    + " REPLICATION attribute, and the source a free WAL sender)", e);
        }
    }

    public String slot() {
        return slot;
    }

    /** Where the slot's stream starts: the first change after the snapshot. */
    public Lsn consistentPoint() {
        return consistentPoint;
    }

    /** The snapshot's name, for {@code SET TRANSACTION SNAPSHOT}. */
    public String snapshot() {
        return snapshot;
    }

    /** Whether the connection that holds the snapshot is still open, as far as this process knows. */
    public boolean held() {
        try {
            return !connection.isClosed();
        } catch (SQLException e) {
            return false;
        }
    }

    /** Ends the snapshot; the slot stays. */
    @Override
    public void close() {
        Sessions.closeQuietly(connection);
    }
}
