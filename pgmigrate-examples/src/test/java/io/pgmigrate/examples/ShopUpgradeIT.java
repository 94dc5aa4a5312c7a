package io.pgmigrate.examples;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An upgrade test to copy into your own project: your schema on PostgreSQL 14, migrated to 18 with pgmigrate, rows
 * compared, then cut over. Replace {@link #createSchema} with your migrations (Flyway, Liquibase, plain SQL) and test data.
 */
@PostgresPair(source = 14, target = 18)
class ShopUpgradeIT {

    private static void createSchema(PostgresServer server) throws Exception {
        server.createDatabase("shop");
        server.execute("shop", """
                CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
                CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers (id),
                                     total numeric(12, 2), placed_at timestamptz DEFAULT now());
                INSERT INTO customers (name, email) SELECT 'c' || g, g || '@example.org' FROM generate_series(1, 1000) g;
                INSERT INTO orders (customer_id, total) SELECT 1 + g % 1000, g / 10.0 FROM generate_series(1, 10000) g;
                """);
    }

    @Test
    void shopUpgradesFrom14To18WithEveryRowIntact(@Source PostgresServer pg14, @Target PostgresServer pg18,
                                                   @TempDir Path state) throws Exception {
        createSchema(pg14);

        try (Migration migration = Migration.builder()
                .source(pg14.endpoint("shop"))
                .target(pg18.endpoint())
                .stateDirectory(state)
                .build()) {
            migration.start();
            pg14.execute("shop", "INSERT INTO orders (customer_id, total) VALUES (1, 99.99)"); // a write during the move
            migration.awaitInSync(Duration.ofMinutes(2));

            VerificationReport report = migration.verify();
            assertThat(report.matches()).as("tables differing: %s", report.mismatches()).isTrue();

            CutoverReport cutover = migration.cutover(); // your application would now connect to pg18
            assertThat(cutover.succeeded()).isTrue();
            pg18.execute("shop", "INSERT INTO orders (customer_id, total) VALUES (2, 1.00)"); // the sequence moved on
            migration.complete();
        }

        assertThat(serverVersion(pg18)).startsWith("18");
        assertThat(count(pg18, "SELECT count(*) FROM orders")).isEqualTo(10_002);
        // The new side's sequence starts sequenceMargin (1000 by default) past the old side's last id, 10_001.
        assertThat(count(pg18, "SELECT max(id) FROM orders")).isEqualTo(10_001 + 1_000 + 1);
    }

    private static String serverVersion(PostgresServer server) throws Exception {
        try (Connection c = server.connect("shop"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SHOW server_version")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static long count(PostgresServer server, String sql) throws Exception {
        try (Connection c = server.connect("shop"); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
