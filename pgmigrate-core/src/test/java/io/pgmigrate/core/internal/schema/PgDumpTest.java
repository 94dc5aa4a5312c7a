package io.pgmigrate.core.internal.schema;

import io.pgmigrate.Endpoint;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.sql.Connector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PgDumpTest {

    @Test
    void theRestrictMetaCommandsAreRemovedAndNothingElse() {
        String script = "\\restrict AbC123\n-- dump\nCREATE TABLE t (v text DEFAULT '\\restrict x');\n"
                + "\\unrestrict AbC123\n";
        assertThat(PgDump.withoutMetaCommands(script))
                .isEqualTo("-- dump\nCREATE TABLE t (v text DEFAULT '\\restrict x');\n");
    }

    @Test
    void theMigrationsOwnTriggersAreRemovedAndTheApplicationsKept() {
        String script = """
                CREATE EVENT TRIGGER pgmigrate_m_shop_ddl ON ddl_command_end
                   EXECUTE FUNCTION pgmigrate_m_shop_ddl.capture();
                ALTER EVENT TRIGGER pgmigrate_m_shop_ddl DISABLE;
                CREATE EVENT TRIGGER audit_ddl ON ddl_command_end
                   EXECUTE FUNCTION public.audit();
                CREATE TRIGGER "pgmigrate_m_Odd shop_ddl" AFTER TRUNCATE ON public.events_2026 FOR EACH STATEMENT \
                EXECUTE FUNCTION "pgmigrate_m_Odd shop_ddl".truncated();
                CREATE TRIGGER orders_audit AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.audit_row();
                CREATE TRIGGER "pgmigrate_m_a;b_ddl" AFTER TRUNCATE ON public."p;1" FOR EACH STATEMENT \
                EXECUTE FUNCTION "pgmigrate_m_a;b_ddl".truncated();
                """;
        assertThat(PgDump.withoutOwnObjects(script)).isEqualTo("""
                CREATE EVENT TRIGGER audit_ddl ON ddl_command_end
                   EXECUTE FUNCTION public.audit();
                CREATE TRIGGER orders_audit AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.audit_row();
                """);
    }

    @Test
    void theConnectionStringQuotesEveryValueAndHoldsNoPassword() {
        Connector c = new Connector(Endpoint.of("db.example.org", 6432, "x").user("o'brien\\x").password("s3cret"),
                "source", Duration.ofSeconds(1), 1);
        assertThat(PgDump.conninfo(c, "my db"))
                .isEqualTo("host='db.example.org' port=6432 dbname='my db' user='o\\'brien\\\\x'")
                .doesNotContain("s3cret");
    }

    @Test
    void aConfiguredPgDumpMustBeAtLeastTheSourcesMajor(@TempDir Path dir) throws Exception {
        Path exe = fake(dir, "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)");
        assertThat(PgDump.find(Optional.of(exe), 14, 18)).isEqualTo(new PgDump(exe, 15));
        assertThatThrownBy(() -> PgDump.find(Optional.of(exe), 16, 18)).isInstanceOf(PgMigrateException.class)
                .hasMessageContaining("needs a pg_dump 16 or later")
                .hasMessageContaining("found only pg_dump 15 (" + exe + ")")
                .hasMessageContaining("SchemaStrategy.CATALOG");
        assertThatThrownBy(() -> PgDump.find(Optional.of(dir.resolve("missing")), 14, 18))
                .hasMessageContaining("is not an executable file");
    }

    private static Path fake(Path dir, String version) throws Exception {
        Path exe = dir.resolve("pg_dump");
        Files.writeString(exe, "#!/bin/sh\necho '" + version + "'\n");
        Files.setPosixFilePermissions(exe, PosixFilePermissions.fromString("rwx------"));
        return exe;
    }
}
