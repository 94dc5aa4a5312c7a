package io.pgmigrate.core.it;

import io.pgmigrate.Migration;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.SchemaDiff.Difference;
import io.pgmigrate.SchemaDiff.Kind;
import io.pgmigrate.core.internal.schema.SchemaSnapshot;
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
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

@PostgresPair(source = 14, target = 18)
class SchemaDiffIT {

    /** One schema with every object type the comparison reads, odd names included. */
    private static final String RICH_SCHEMA = SchemaFixtures.RICH;

    @Test
    void sameDdlOnFourteenAndEighteenComparesEqual(@Source PostgresServer source, @Target PostgresServer target)
            throws Exception {
        source.createDatabase("same");
        target.createDatabase("same");
        source.execute("same", RICH_SCHEMA);
        target.execute("same", RICH_SCHEMA);

        SchemaDiff diff;
        try (Connection left = source.connect("same"); Connection right = target.connect("same")) {
            diff = SchemaDiff.between(left, right);
            // Equal because both sides read every object, not because neither read anything.
            assertThat(SchemaSnapshot.read(right).objects().keySet()).extracting(SchemaSnapshot.Key::type)
                    .contains("schema", "extension", "type", "sequence", "table", "constraint", "index", "view",
                            "materialized view", "function", "procedure", "trigger", "rule", "policy", "comment");
            assertThat(SchemaSnapshot.read(left).objects()).containsKeys(
                    new SchemaSnapshot.Key("table", "\"Lager\".\"Bestand \"\"Äpfel\"\"\""),
                    new SchemaSnapshot.Key("table", "\"Lager\".\"Bestand sonst\""),
                    new SchemaSnapshot.Key("type", "app.floatrange"),
                    new SchemaSnapshot.Key("comment", "table column app.orders.code"));
            assertThat(searchPath(left)).as("the caller's search_path is restored").isEqualTo("\"$user\", public");
        }

        assertThat(diff.isEmpty()).as(diff.toText()).isTrue();
    }

    @Test
    void everyChangedObjectIsNamedWithItsKindAndBothDefinitions(@Source PostgresServer source,
                                                                @Target PostgresServer target) throws Exception {
        source.createDatabase("changed");
        target.createDatabase("changed");
        source.execute("changed", RICH_SCHEMA);
        target.execute("changed", RICH_SCHEMA);
        target.execute("changed", """
                ALTER TABLE "Lager".scratch ALTER COLUMN v TYPE varchar(200);
                DROP INDEX app.orders_open_idx;
                CREATE FUNCTION "Lager"."zähle"(n integer) RETURNS integer LANGUAGE sql AS 'SELECT n + 1';
                ALTER TYPE app.mood ADD VALUE 'ecstatic';
                ALTER TABLE app.orders DROP CONSTRAINT qty_positive;
                ALTER TABLE app.orders ADD CONSTRAINT qty_positive CHECK (qty >= 0);
                """);

        SchemaDiff diff;
        try (Connection left = source.connect("changed"); Connection right = target.connect("changed")) {
            diff = SchemaDiff.between(left, right);
        }

        // Dropping the old check constraint dropped its comment too: a real sixth difference.
        assertThat(diff.differences()).as(diff.toText()).hasSize(6);
        Difference comment = find(diff, "comment", "table constraint qty_positive on app.orders").orElseThrow();
        assertThat(comment.kind()).isEqualTo(Kind.MISSING);
        assertThat(comment.left()).isEqualTo("never zero");

        Difference column = find(diff, "table", "\"Lager\".scratch").orElseThrow();
        assertThat(column.kind()).isEqualTo(Kind.DIFFERENT);
        assertThat(column.left()).contains("v text");
        assertThat(column.right()).contains("v character varying(200)");

        Difference index = find(diff, "index", "app.orders_open_idx").orElseThrow();
        assertThat(index.kind()).isEqualTo(Kind.MISSING);
        assertThat(index.left()).isEqualTo("CREATE INDEX orders_open_idx ON app.orders USING btree (customer_id)"
                + " INCLUDE (qty) WHERE (qty > 10)");
        assertThat(index.right()).isEmpty();

        Difference function = find(diff, "function", "\"Lager\".\"zähle\"(n integer)").orElseThrow();
        assertThat(function.kind()).isEqualTo(Kind.EXTRA);
        assertThat(function.left()).isEmpty();
        assertThat(function.right()).startsWith("CREATE OR REPLACE FUNCTION \"Lager\".\"zähle\"(n integer)");

        Difference type = find(diff, "type", "app.mood").orElseThrow();
        assertThat(type.kind()).isEqualTo(Kind.DIFFERENT);
        assertThat(type.left()).isEqualTo("ENUM ('sad', 'ok', 'happy')");
        assertThat(type.right()).isEqualTo("ENUM ('sad', 'ok', 'happy', 'ecstatic')");

        Difference check = find(diff, "constraint", "app.orders.qty_positive").orElseThrow();
        assertThat(check.kind()).isEqualTo(Kind.DIFFERENT);
        assertThat(check.left()).isEqualTo("CHECK ((qty > 0))");
        assertThat(check.right()).isEqualTo("CHECK ((qty >= 0))");

        assertThat(diff.toText()).contains("MISSING   index app.orders_open_idx",
                "EXTRA     function \"Lager\".\"zähle\"(n integer)", "DIFFERENT constraint app.orders.qty_positive",
                "< CHECK ((qty > 0))", "> CHECK ((qty >= 0))");
    }

    @Test
    void migratedDatabaseHasTheSourceSchemaOnTheTarget(@Source PostgresServer source, @Target PostgresServer target,
                                                       @TempDir Path state) throws Exception {
        Fixtures.createShop(source, "shop", 1_000);
        try (Migration m = Migration.builder()
                .name("diff")
                .source(source.endpoint())
                .target(target.endpoint())
                .databases("shop")
                .stateDirectory(state)
                .build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));

            SchemaDiff diff = m.schemaDiff("shop");

            assertThat(diff.isEmpty()).as(diff.toText()).isTrue();
            m.complete();
        }
    }

    private static Optional<Difference> find(SchemaDiff diff, String type, String name) {
        return diff.differences().stream().filter(d -> d.objectType().equals(type) && d.name().equals(name))
                .findFirst();
    }

    private static String searchPath(Connection c) throws Exception {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SHOW search_path")) {
            rs.next();
            return rs.getString(1);
        }
    }
}
