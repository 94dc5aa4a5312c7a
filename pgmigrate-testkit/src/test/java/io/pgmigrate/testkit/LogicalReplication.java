package io.pgmigrate.testkit;

import io.pgmigrate.Endpoint;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;

/** Proves two servers of a pair can replicate: the target subscribes to the source through its peer endpoint. */
final class LogicalReplication {

    private LogicalReplication() {
    }

    static void assertRowsReachTarget(PostgresServer source, PostgresServer target, String database)
            throws SQLException, InterruptedException {
        source.createDatabase(database);
        target.createDatabase(database);
        String table = "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL)";
        source.execute(database, table);
        target.execute(database, table);
        source.execute(database, "CREATE PUBLICATION pub FOR TABLE item");
        source.execute(database, "INSERT INTO item VALUES (1, 'copied')");

        Endpoint peer = source.endpointForPeers().database(database);
        target.execute(database, "CREATE SUBSCRIPTION sub CONNECTION " + literal(conninfo(peer)) + " PUBLICATION pub");
        source.execute(database, "INSERT INTO item VALUES (2, 'streamed')");

        awaitRowCount(target, database, 2, Duration.ofSeconds(60));
        try (Connection c = target.connect(database); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT name FROM item ORDER BY id")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualTo("copied");
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualTo("streamed");
        }
        // Drops the slot on the source too, leaving both servers as they were.
        target.execute(database, "DROP SUBSCRIPTION sub");
    }

    private static void awaitRowCount(PostgresServer server, String database, int expected, Duration timeout)
            throws SQLException, InterruptedException {
        Instant deadline = Instant.now().plus(timeout);
        long pauseMillis = 20;
        int count;
        while (true) {
            try (Connection c = server.connect(database); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM item")) {
                rs.next();
                count = rs.getInt(1);
            }
            if (count == expected || Instant.now().isAfter(deadline)) {
                break;
            }
            Thread.sleep(pauseMillis);
            pauseMillis = Math.min(pauseMillis * 2, 500);
        }
        assertThat(count).as("rows replicated to %s within %s", server, timeout).isEqualTo(expected);
    }

    /** A libpq connection string; values quoted as libpq wants, so any host, name or password is safe. */
    static String conninfo(Endpoint e) {
        StringBuilder sb = new StringBuilder()
                .append("host=").append(conninfoValue(e.host()))
                .append(" port=").append(e.port())
                .append(" dbname=").append(conninfoValue(e.database().orElse("postgres")))
                .append(" user=").append(conninfoValue(e.user().orElse("postgres")));
        e.password().ifPresent(p -> sb.append(" password=").append(conninfoValue(p)));
        return sb.toString();
    }

    private static String conninfoValue(String v) {
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }
}
