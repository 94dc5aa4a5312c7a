package io.pgmigrate.core.internal.schema;

import io.pgmigrate.SchemaDiff;
import io.pgmigrate.SchemaDiff.Difference;
import io.pgmigrate.SchemaDiff.Kind;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SchemaDiffTextTest {

    private static SchemaSnapshot snapshot(String... typeNameDefinition) {
        Map<SchemaSnapshot.Key, String> objects = new TreeMap<>();
        for (int i = 0; i < typeNameDefinition.length; i += 3) {
            objects.put(new SchemaSnapshot.Key(typeNameDefinition[i], typeNameDefinition[i + 1]),
                    SchemaSnapshot.normalize(typeNameDefinition[i + 2]));
        }
        return new SchemaSnapshot(new TreeMap<>(objects));
    }

    @Test
    void normalizationCollapsesLayoutButKeepsEveryToken() {
        assertThat(SchemaSnapshot.normalize("\n CREATE  INDEX i\n\tON public.t USING btree (a)  \n"))
                .isEqualTo("CREATE INDEX i ON public.t USING btree (a)");
        assertThat(SchemaSnapshot.normalize(null)).isEmpty();
        assertThat(SchemaSnapshot.normalize("CHECK (a > 0)")).isNotEqualTo(SchemaSnapshot.normalize("CHECK (a >= 0)"));
    }

    @Test
    void viewOfOneRelationBefore16ReadsAsSixteenPrintsIt() {
        assertThat(SchemaSnapshot.unqualifySingleRelation("day date AS SELECT date_trunc('day'::text, orders.created)"
                + " AS day, count(*) AS n FROM app.orders GROUP BY (date_trunc('day'::text, orders.created));"))
                .isEqualTo("day date AS SELECT date_trunc('day'::text, created) AS day, count(*) AS n"
                        + " FROM app.orders GROUP BY (date_trunc('day'::text, created));");
        assertThat(SchemaSnapshot.unqualifySingleRelation("name text AS SELECT b.name, sum(b.\"Größe\") AS s"
                + " FROM ONLY app.big_orders b WHERE (b.note <> 'b.name'::text) GROUP BY b.name;"))
                .isEqualTo("name text AS SELECT name, sum(\"Größe\") AS s"
                        + " FROM ONLY app.big_orders b WHERE (note <> 'b.name'::text) GROUP BY name;");
        assertThat(SchemaSnapshot.unqualifySingleRelation("id integer AS SELECT \"Odd \"\"t\"\"\".id"
                + " FROM s.\"Odd \"\"t\"\"\";"))
                .isEqualTo("id integer AS SELECT id FROM s.\"Odd \"\"t\"\"\";");
    }

    @Test
    void viewsWithMoreThanOneRelationOrQueryLevelAreLeftAsPrinted() {
        for (String definition : List.of(
                "id integer AS SELECT o.id FROM app.orders o JOIN app.customers c ON c.id = o.cid;",
                "id integer AS SELECT o.id FROM app.orders o, app.customers c WHERE c.id = o.cid;",
                "id integer AS SELECT o.id FROM app.orders o WHERE o.id IN (SELECT x.id FROM app.x x);",
                "id integer AS SELECT o.id FROM app.orders o UNION SELECT p.id FROM app.p p;",
                "g integer AS SELECT g.g FROM generate_series(1, 3) g(g);",
                "one integer AS SELECT 1 AS one;")) {
            assertThat(SchemaSnapshot.unqualifySingleRelation(definition)).isEqualTo(definition);
        }
    }

    @Test
    void identicalSnapshotsCompareEmptyWhateverTheLayout() {
        SchemaDiff diff = SchemaComparison.compare(
                snapshot("table", "public.t", "TABLE (id integer NOT NULL)", "index", "public.i", "CREATE INDEX i"),
                snapshot("index", "public.i", "CREATE   INDEX\n i", "table", "public.t", "TABLE (id integer NOT NULL)"));
        assertThat(diff.isEmpty()).isTrue();
        assertThat(diff.toText()).isEqualTo("schemas: no differences\n");
    }

    @Test
    void comparisonNamesMissingExtraAndDifferentObjectsWithBothDefinitions() {
        SchemaDiff diff = SchemaComparison.compare(
                snapshot("table", "public.t", "TABLE (id integer)", "index", "public.gone", "CREATE INDEX gone",
                        "type", "public.mood", "ENUM ('sad', 'ok')"),
                snapshot("table", "public.t", "TABLE (id bigint)", "function", "public.f()", "CREATE FUNCTION f",
                        "type", "public.mood", "ENUM ('sad', 'ok')"));

        assertThat(diff.differences()).containsExactly(
                new Difference(Kind.EXTRA, "function", "public.f()", "", "CREATE FUNCTION f"),
                new Difference(Kind.MISSING, "index", "public.gone", "CREATE INDEX gone", ""),
                new Difference(Kind.DIFFERENT, "table", "public.t", "TABLE (id integer)", "TABLE (id bigint)"));
        assertThat(diff.differences(Kind.DIFFERENT)).extracting(Difference::name).containsExactly("public.t");
        String nl = System.lineSeparator();
        assertThat(diff.toText()).isEqualTo(String.format(
                "schemas: 3 difference(s): 1 missing on the right, 1 extra on the right, 1 different%n")
                + "EXTRA     function public.f()" + nl
                + "          > CREATE FUNCTION f" + nl
                + "MISSING   index public.gone" + nl
                + "          < CREATE INDEX gone" + nl
                + "DIFFERENT table public.t" + nl
                + "          < TABLE (id integer)" + nl
                + "          > TABLE (id bigint)" + nl);
    }

    @Test
    void diffIsImmutableAndNullDefinitionsBecomeEmpty() {
        List<Difference> list = new ArrayList<>();
        list.add(new Difference(Kind.MISSING, "schema", "s", "SCHEMA s", null));
        SchemaDiff diff = new SchemaDiff(list);
        list.clear();
        assertThat(diff.differences()).hasSize(1);
        assertThat(diff.differences().get(0).right()).isEmpty();
        assertThatThrownBy(() -> diff.differences().add(new Difference(Kind.EXTRA, "schema", "x", "", ""))).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> new Difference(null, "schema", "s", "", "")).isInstanceOf(NullPointerException.class);
    }
}
