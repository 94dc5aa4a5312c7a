package io.pgmigrate.core.it;

import io.pgmigrate.Migration;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The DDL capture runs with a superuser's rights inside the application's own statements, and the replay runs
 * statements on the other side in a superuser's session: an application role that can run DDL must gain nothing
 * through either, its scratch work must stay its own, and what it creates must not break its own writes.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class DdlSecurityIT {

    private static final Duration SYNC = Duration.ofMinutes(2);

    @Test
    void aRoleThatRunsDdlGainsNoRightsThroughTheCaptureOrTheReplayAndItsScratchWorkStaysItsOwn(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "guarded";
        source.createDatabase(db);
        source.execute(db, "CREATE TABLE staging (id integer PRIMARY KEY, v text);"
                + " INSERT INTO staging VALUES (1, 'keep')");
        Ledger.createRole(source);
        Ledger.createRole(target);
        source.execute(db, "GRANT CREATE ON SCHEMA public TO ledger_app");
        try (Migration m = CutoverContract.builder(source, target, state, "guard", db).build()) {
            m.start();
            m.awaitInSync(SYNC);
            target.execute(db, "GRANT CREATE ON SCHEMA public TO ledger_app");
            try (Connection app = Ledger.connectAsApp(source.host(), source.port(), db);
                 Statement st = app.createStatement()) {
                // run as the capture's owner or the replaying superuser, this makes the role a superuser
                st.execute("""
                        CREATE FUNCTION public.escalate(v pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
                        BEGIN
                            EXECUTE 'ALTER ROLE ledger_app SUPERUSER';
                            RETURN true;
                        EXCEPTION WHEN insufficient_privilege THEN
                            RETURN true;
                        END $$""");
                // a type named like the capture's variables'
                st.execute("CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.escalate(VALUE))");
                // a function named like one the replay calls
                st.execute("""
                        CREATE FUNCTION public.set_config(a pg_catalog.text, b pg_catalog.text, c boolean)
                        RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
                        BEGIN
                            PERFORM public.escalate(a);
                            RETURN pg_catalog.set_config(a, b, c);
                        END $$""");
            }
            // a new session, whose first DDL compiles the capture with this search_path, and whose statements are
            // replayed with it
            try (Connection app = Ledger.connectAsApp(source.host(), source.port(), db);
                 Statement st = app.createStatement()) {
                st.execute("SET search_path = public, pg_catalog");
                st.execute("CREATE TABLE probe_one (id integer PRIMARY KEY)");
                st.execute("CREATE TABLE probe_two (id integer PRIMARY KEY)");
                // scratch work: a temporary table named like a real one, dropped again
                st.execute("CREATE TEMP TABLE staging (id integer, v text)");
                st.execute("DROP TABLE staging");
                // a table without a key, which the application goes on updating
                st.execute("CREATE TABLE notes (body pg_catalog.text)");
                st.execute("INSERT INTO notes VALUES ('first')");
                st.execute("UPDATE notes SET body = 'second'");
            }
            m.awaitInSync(SYNC);
            for (PostgresServer server : List.of(source, target)) {
                assertThat(Fixtures.count(server, "postgres", "SELECT count(*) FROM pg_roles"
                        + " WHERE rolname = 'ledger_app' AND rolsuper")).as("ledger_app a superuser on " + server)
                        .isZero();
            }
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM pg_tables WHERE tablename IN"
                    + " ('probe_one', 'probe_two') AND tableowner = 'ledger_app'")).as("carried as the role").isEqualTo(2);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM public.staging WHERE v = 'keep'"))
                    .as("the real table of the temporary one's name").isOne();
            m.complete();
        }
    }
}
