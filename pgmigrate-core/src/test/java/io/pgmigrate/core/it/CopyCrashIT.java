package io.pgmigrate.core.it;

import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The JVM that runs the initial copy is killed (SIGKILL) mid-copy, and its exported snapshot ends with it. A new
 * migration object takes over: the tables copied in full stay as they are (no row written again), the tables whose
 * copy was cut short are emptied and copied by PostgreSQL's table synchronisation, which aligns them with the stream,
 * the foreign key into such a table waits for its rows, and every table ends identical to the source.
 */
@PostgresPair(source = 14, target = 18)
class CopyCrashIT {

    private static final List<String> TABLES = List.of("public.customers", "public.orders", "public.order_lines");

    @Test
    void aCopyCutShortByAKilledJvmKeepsItsCompleteTablesAndSyncsTheRest(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        source.createDatabase("shop");
        try (Connection c = source.connect("shop"); Statement s = c.createStatement()) {
            s.execute("""
                    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
                    CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL REFERENCES customers,
                                         placed timestamptz NOT NULL, note text);
                    CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id bigint NOT NULL, sku text,
                                              qty int NOT NULL);
                    INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 2000) g;
                    INSERT INTO orders SELECT g, 1 + g % 2000, timestamptz '2026-01-01' + g * interval '1 minute',
                           repeat('n', 40) FROM generate_series(1, 60000) g;
                    INSERT INTO order_lines SELECT g, 1 + g % 60000, 'sku-' || (g % 977), 1 + g % 5
                    FROM generate_series(1, 50000) g;
                    """);
            s.execute("VACUUM ANALYZE");
        }
        Process child = startChild(source, target, state);
        try {
            CutoverCrashIT.awaitLine(child, CopyingMigration.COPYING, state, "crash");
            // Largest first, one worker: orders, then order_lines, then customers. Kill once orders is complete.
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            int ordersParts = InitialCopyContract.chunksOf(state, "crash", "orders");
            while (ordersParts == 0 || InitialCopy14To18IT.doneChunks(state, "crash.json", "orders") < ordersParts) {
                assertThat(System.nanoTime()).as("orders copied within 2 minutes").isLessThan(deadline);
                Thread.sleep(10);
                ordersParts = InitialCopyContract.chunksOf(state, "crash", "orders");
            }
        } finally {
            child.destroyForcibly(); // SIGKILL: no shutdown hook, no clean close of anything
            child.waitFor();
        }
        assertThat(InitialCopy14To18IT.doneChunks(state, "crash.json", "orders")).as("orders was copied in parts")
                .isGreaterThan(1);
        assertThat(InitialCopy14To18IT.doneChunks(state, "crash.json", "customers"))
                .as("customers was not copied yet").isZero();
        Map<String, Long> ordersBefore = Bookkeeping.rowsPerTransaction(target, "shop", "orders");

        List<String> warnings = new CopyOnWriteArrayList<>();
        try (Migration m = Migration.builder().name("crash").source(source.endpoint()).target(target.endpoint())
                .databases("shop").stateDirectory(state).listener(new MigrationListener() {
                    @Override
                    public void onWarning(String database, String message) {
                        warnings.add(message);
                    }
                }).build()) {
            m.start();
            assertThat(warnings).anyMatch(w -> w.contains("cut short") && w.contains("copied in full and are kept"));
            m.awaitInSync(Duration.ofMinutes(3));
            assertThat(Bookkeeping.rowsPerTransaction(target, "shop", "orders"))
                    .as("orders, complete before the kill, was not copied again").isEqualTo(ordersBefore);
            for (String table : TABLES) {
                assertThat(Bookkeeping.hash(target, "shop", table)).as(table)
                        .isEqualTo(Bookkeeping.hash(source, "shop", table));
            }
            assertThat(Fixtures.count(target, "shop", "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"))
                    .as("the foreign key into customers, created once its rows arrived").isEqualTo(1);
            assertThat(m.schemaDiff("shop").isEmpty()).as(m.schemaDiff("shop").toText()).isTrue();
            assertThat(m.verify().matches()).isTrue();
            m.complete();
        }
        assertThat(Fixtures.count(source, "shop", "SELECT count(*) FROM pg_replication_slots")).isZero();
    }

    private static Process startChild(PostgresServer source, PostgresServer target, Path state) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                CopyingMigration.class.getName(), source.host(), Integer.toString(source.port()), target.host(),
                Integer.toString(target.port()), source.superuser(), state.toString(), "crash", "shop");
        pb.redirectError(state.resolve("child-crash.log").toFile());
        return pb.start();
    }
}
