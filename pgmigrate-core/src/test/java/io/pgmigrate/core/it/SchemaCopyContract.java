package io.pgmigrate.core.it;

import io.pgmigrate.Migration;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import io.pgmigrate.core.internal.schema.CatalogSchema;
import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Queries;

import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The catalog schema copy, run for each pair of majors by a subclass: a schema with every object kind it handles is
 * created on the source, {@code start()} copies it, {@link SchemaDiff} finds no difference, and rows then replicate
 * into it.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
abstract class SchemaCopyContract {

    @Test
    void everyCopiedObjectKindArrivesIdenticalAndRowsReplicateIntoIt(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "rich";
        source.createDatabase(db);
        source.execute(db, SchemaFixtures.RICH);
        source.execute(db, """
                INSERT INTO app.customers (name, mood, home, credit, email, "Straße")
                VALUES ('Ada', 'happy', ROW('Hauptstraße 1', '10115', 3)::app.address, 10, 'ada@example.org', 'Süd');
                INSERT INTO app.orders (customer_id, qty, price, during) VALUES (1, 12, 9.5, '[1.5,2.5)');
                INSERT INTO "Lager"."Bestand ""Äpfel""\" ("Lager-ID", day, menge, kunde)
                VALUES (1, '2024-03-01', 5, 1), (1, '2025-03-01', 6, NULL), (9, '2025-03-01', 7, NULL),
                       (1, '2030-01-01', 8, NULL);
                INSERT INTO "Lager".scratch VALUES ('k', 'v');
                INSERT INTO app.bookings VALUES (1, '[2025-01-01, 2025-01-02)');
                """);
        try (Migration m = Migration.builder().name("schema").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            SchemaDiff diff = m.schemaDiff(db);
            assertThat(diff.isEmpty()).as(diff.toText()).isTrue();

            source.execute(db, "INSERT INTO app.orders (customer_id, qty, price) VALUES (1, 20, 1.25)");
            source.execute(db, "UPDATE app.orders SET qty = qty + 1");
            // Rows written to the partitioned table and straight into a partition, moved between partitions by an
            // update, and deleted: the stream carries them through the root, the target's bounds place them.
            source.execute(db, """
                    INSERT INTO "Lager"."Bestand 2024" ("Lager-ID", day, menge) VALUES (2, '2024-05-05', 1);
                    INSERT INTO "Lager"."Bestand ""Äpfel""\" ("Lager-ID", day) VALUES (2, '2025-06-01');
                    UPDATE "Lager"."Bestand ""Äpfel""\" SET day = '2031-01-01' WHERE "Lager-ID" = 9;
                    DELETE FROM "Lager"."Bestand ""Äpfel""\" WHERE day = '2030-01-01';
                    """);
            m.awaitInSync(Duration.ofMinutes(1));
            for (String table : new String[]{"app.customers", "app.orders", "app.bookings", "\"Lager\".\"Bestand \"\"Äpfel\"\"\"",
                    "\"Lager\".\"Bestand 2024\"", "\"Lager\".\"Bestand 2025 Nord\"",
                    "\"Lager\".\"Bestand 2025 Süd\"", "\"Lager\".\"Bestand sonst\""}) {
                assertThat(Fixtures.fingerprint(target, db, table)).as(table)
                        .isEqualTo(Fixtures.fingerprint(source, db, table));
            }
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM \"Lager\".\"Bestand sonst\"")).isEqualTo(1);
            // Unlogged: created, but its rows are not replicated.
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM \"Lager\".scratch")).isZero();
            m.complete();
            // Identical rows also mean the target's copy of the trigger did not fire for replicated changes (apply
            // workers run in replica mode; it would have stamped its own now()). A write on the target fires it,
            // once complete() has removed the fence that refuses writes there while it only receives the stream.
            String stamp = "SELECT (extract(epoch FROM updated) * 1000000)::bigint FROM app.orders WHERE id = 1";
            long replicated = Fixtures.count(source, db, stamp);
            target.execute(db, "UPDATE app.orders SET qty = qty + 1 WHERE id = 1");
            assertThat(Fixtures.count(target, db, stamp)).isGreaterThan(replicated);
        }
    }

    @Test
    void objectsTheCopyCannotCreateAreReportedByNameWithTheReason(@Source PostgresServer source) throws Exception {
        String db = "reported";
        source.createDatabase(db);
        source.execute(db, SchemaFixtures.COPYABLE + SchemaFixtures.NOT_COPIED);
        try (Connection c = source.connect(db)) {
            Queries.execute(c, "SET search_path = pg_catalog");
            CatalogSchema schema = CatalogSchema.read(c);
            assertThat(schema.notCopied()).containsExactlyInAnyOrder(
                    "table app.events: table inheritance is not copied; convert it to declarative partitioning",
                    "table app.login_events: table inheritance is not copied; convert it to declarative partitioning");
            assertThat(schema.refused()).isEmpty();
            assertThat(schema.tables()).extracting(TableRef::toString).containsExactly("app.bookings", "app.customers",
                    "app.orders");
            // Aggregates are copied since issue 14.
            assertThat(String.join("\n", schema.statements())).doesNotContain("events")
                    .contains("CREATE AGGREGATE app.text_concat (text)");
        }
    }
}
