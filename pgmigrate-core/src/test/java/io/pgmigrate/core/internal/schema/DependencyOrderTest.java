package io.pgmigrate.core.internal.schema;

import io.pgmigrate.core.internal.schema.CatalogObject.Ref;
import io.pgmigrate.core.internal.schema.CatalogObject.Stage;
import io.pgmigrate.core.internal.schema.DependencyOrder.Depend;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The order of a schema copy from pg_depend (issue 14), on dependency rows shaped as PostgreSQL records them: the
 * parts of objects (row types, array types, columns, a view's rule, a key's index) map to their objects.
 */
class DependencyOrderTest {

    private static final Ref SCHEMA = new Ref("pg_namespace", 16385);
    private static final Ref TABLE = new Ref("pg_class", 16387);
    private static final Ref ROW_TYPE = new Ref("pg_type", 16389);
    private static final Ref ARRAY_TYPE = new Ref("pg_type", 16388);
    private static final Ref FUNCTION = new Ref("pg_proc", 16395);
    private static final Ref VIEW = new Ref("pg_class", 16396);
    private static final Ref VIEW_RULE = new Ref("pg_rewrite", 16399);
    private static final Ref SEQUENCE = new Ref("pg_class", 16386);
    private static final Ref DEFAULT = new Ref("pg_attrdef", 16390);

    private static CatalogObject object(Ref ref, String kind, String name, Stage stage) {
        return new CatalogObject(ref, kind, name, stage, "CREATE " + kind.toUpperCase() + " " + name);
    }

    private static List<String> names(List<CatalogObject> ordered) {
        return ordered.stream().map(CatalogObject::name).toList();
    }

    @Test
    void aFunctionReturningATablesRowTypeComesAfterTheTableThoughTheReaderPutFunctionsFirst() throws Exception {
        List<CatalogObject> objects = List.of(
                object(SCHEMA, "schema", "app", Stage.BEFORE_DATA),
                object(FUNCTION, "function", "app.best(integer)", Stage.BEFORE_DATA),
                object(TABLE, "table", "app.customer", Stage.BEFORE_DATA));
        List<Depend> depends = List.of(
                new Depend(TABLE, SCHEMA, 'n'),
                new Depend(ROW_TYPE, TABLE, 'i'),
                new Depend(ARRAY_TYPE, ROW_TYPE, 'i'),
                new Depend(FUNCTION, SCHEMA, 'n'),
                new Depend(FUNCTION, ARRAY_TYPE, 'n'));

        List<CatalogObject> ordered = DependencyOrder.sort(objects, depends, Map.of(), new HashMap<>());

        assertThat(names(ordered)).containsExactly("app", "app.customer", "app.best(integer)");
    }

    @Test
    void aSerialColumnsSequenceIsNotACycleAndADefaultCallingAFunctionWaitsForIt() throws Exception {
        Ref ownedBy = Ref.extra("owned by", SEQUENCE);
        List<CatalogObject> objects = List.of(
                object(SEQUENCE, "sequence", "app.customer_id_seq", Stage.BEFORE_DATA),
                object(FUNCTION, "function", "app.best(integer)", Stage.BEFORE_DATA),
                object(TABLE, "table", "app.customer", Stage.BEFORE_DATA),
                object(DEFAULT, "column default", "app.customer.score", Stage.BEFORE_DATA),
                new CatalogObject(ownedBy, "sequence owner", "app.customer_id_seq", Stage.BEFORE_DATA,
                        List.of("ALTER SEQUENCE app.customer_id_seq OWNED BY app.customer.id"), Set.of(SEQUENCE, TABLE)));
        Ref idDefault = new Ref("pg_attrdef", 16391);
        List<Depend> depends = List.of(
                new Depend(SEQUENCE, TABLE, 'a'),             // OWNED BY
                new Depend(idDefault, SEQUENCE, 'n'),         // DEFAULT nextval(...), inline in the table
                new Depend(idDefault, TABLE, 'a'),
                new Depend(ROW_TYPE, TABLE, 'i'),
                new Depend(FUNCTION, ROW_TYPE, 'n'),          // RETURNS SETOF app.customer
                new Depend(DEFAULT, FUNCTION, 'n'),           // a default calling it, set on its own
                new Depend(DEFAULT, TABLE, 'a'));

        List<CatalogObject> ordered = DependencyOrder.sort(objects, depends, Map.of(idDefault, TABLE),
                new HashMap<>());

        assertThat(names(ordered)).containsExactly("app.customer_id_seq", "app.customer", "app.best(integer)",
                "app.customer.score", "app.customer_id_seq");
        assertThat(ordered.get(4).kind()).isEqualTo("sequence owner");
    }

    @Test
    void anObjectBeforeTheDataThatNeedsOneAfterItMovesAfterTheDataWithIt() throws Exception {
        Ref index = new Ref("pg_class", 16400);
        Ref needsIndex = new Ref("pg_constraint", 16401);
        List<CatalogObject> objects = List.of(
                object(TABLE, "table", "app.customer", Stage.BEFORE_DATA),
                object(index, "index", "app.customer_name_idx", Stage.AFTER_DATA),
                object(needsIndex, "constraint", "app.customer.uses_index", Stage.BEFORE_DATA));
        List<Depend> depends = List.of(new Depend(index, TABLE, 'a'), new Depend(needsIndex, index, 'n'));

        List<CatalogObject> ordered = DependencyOrder.sort(objects, depends, Map.of(), new HashMap<>());

        assertThat(names(ordered)).containsExactly("app.customer", "app.customer_name_idx", "app.customer.uses_index");
        assertThat(ordered.get(2).stage()).isEqualTo(Stage.AFTER_DATA);
    }

    @Test
    void aCycleThroughAViewIsBrokenWithAShellOfTheView() throws Exception {
        // A SQL-standard function body reads the view, and the view calls the function.
        Ref atomic = new Ref("pg_proc", 16402);
        List<CatalogObject> objects = List.of(
                object(TABLE, "table", "app.customer", Stage.BEFORE_DATA),
                object(atomic, "function", "app.count_v()", Stage.BEFORE_DATA),
                object(VIEW, "view", "app.v", Stage.BEFORE_DATA));
        List<Depend> depends = List.of(
                new Depend(VIEW_RULE, VIEW, 'i'),
                new Depend(VIEW_RULE, TABLE, 'n'),
                new Depend(VIEW_RULE, atomic, 'n'),
                new Depend(atomic, VIEW, 'n'));
        Map<Ref, String> shells = new HashMap<>(Map.of(VIEW, "CREATE VIEW app.v AS SELECT NULL::integer AS id"));

        List<CatalogObject> ordered = DependencyOrder.sort(objects, depends, Map.of(), shells);

        assertThat(names(ordered)).containsExactly("app.customer", "app.v (shell)", "app.count_v()", "app.v");
        assertThat(ordered.get(1).ddl()).containsExactly("CREATE VIEW app.v AS SELECT NULL::integer AS id");
        assertThat(ordered.get(3).ddl()).containsExactly("CREATE OR REPLACE VIEW app.v");
    }

    @Test
    void aCycleNoShellBreaksIsRefusedNamingItsObjects() {
        Ref other = new Ref("pg_proc", 16403);
        List<CatalogObject> objects = List.of(
                object(FUNCTION, "function", "app.a()", Stage.BEFORE_DATA),
                object(other, "function", "app.b()", Stage.BEFORE_DATA));
        List<Depend> depends = List.of(new Depend(FUNCTION, other, 'n'), new Depend(other, FUNCTION, 'n'));

        assertThatThrownBy(() -> DependencyOrder.sort(objects, depends, Map.of(), new HashMap<>()))
                .isInstanceOf(DependencyOrder.CycleException.class)
                .hasMessageContaining("function app.a()").hasMessageContaining("function app.b()");
    }

    @Test
    void aCommentOnAnObjectTheCopyDoesNotCreateIsLeftOut() throws Exception {
        Ref foreign = new Ref("pg_class", 16404);
        Ref comment = new Ref("[comment TABLE app.remote]", 16404);
        List<CatalogObject> objects = List.of(
                object(TABLE, "table", "app.customer", Stage.BEFORE_DATA),
                new CatalogObject(comment, "comment", "TABLE app.remote", Stage.AFTER_DATA,
                        List.of("COMMENT ON TABLE app.remote IS 'elsewhere'"), Set.of(foreign)));

        assertThat(names(DependencyOrder.sort(objects, List.of(), Map.of(), new HashMap<>())))
                .containsExactly("app.customer");
    }
}
