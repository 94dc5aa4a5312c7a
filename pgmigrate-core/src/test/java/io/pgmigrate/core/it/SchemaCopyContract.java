package io.pgmigrate.core.it;

import io.pgmigrate.Migration;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
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
        source.execute(db, SchemaFixtures.COPYABLE);
        source.execute(db, """
                INSERT INTO app.customers (name, mood, home, credit, email, "Straße")
                VALUES ('Ada', 'happy', ROW('Hauptstraße 1', '10115', 3)::app.address, 10, 'ada@example.org', 'Süd');
                INSERT INTO app.orders (customer_id, qty, price, during) VALUES (1, 12, 9.5, '[1.5,2.5)');
                """);
        try (Migration m = Migration.builder().name("schema").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            SchemaDiff diff = m.schemaDiff(db);
            assertThat(diff.isEmpty()).as(diff.toText()).isTrue();

            source.execute(db, "INSERT INTO app.orders (customer_id, qty, price) VALUES (1, 20, 1.25)");
            source.execute(db, "UPDATE app.orders SET qty = qty + 1");
            m.awaitInSync(Duration.ofMinutes(1));
            for (String table : new String[]{"app.customers", "app.orders"}) {
                assertThat(Fixtures.fingerprint(target, db, table)).as(table)
                        .isEqualTo(Fixtures.fingerprint(source, db, table));
            }
            // Identical rows also mean the target's copy of the trigger did not fire for replicated changes (apply
            // workers run in replica mode; it would have stamped its own now()). A write on the target fires it.
            String stamp = "SELECT (extract(epoch FROM updated) * 1000000)::bigint FROM app.orders WHERE id = 1";
            long replicated = Fixtures.count(source, db, stamp);
            target.execute(db, "UPDATE app.orders SET qty = qty + 1 WHERE id = 1");
            assertThat(Fixtures.count(target, db, stamp)).isGreaterThan(replicated);
            m.complete();
        }
    }
}
