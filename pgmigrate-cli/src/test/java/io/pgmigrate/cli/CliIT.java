package io.pgmigrate.cli;

import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The whole flow from a properties file, command by command, as an operator or a script runs it. */
@PostgresPair(source = 14, target = 18)
class CliIT {

    /** One command's exit code and output. */
    record Result(int exit, String out, String err) {
    }

    static Result pgmigrate(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Result(exit, out.toString(), err.toString());
    }

    @Test
    void theWholeFlowRunsFromAPropertiesFile(@Source PostgresServer source, @Target PostgresServer target,
                                             @TempDir Path dir) throws Exception {
        String db = "cli_shop";
        source.createDatabase(db);
        source.execute(db, """
                CREATE TABLE orders (id bigserial PRIMARY KEY, customer integer NOT NULL, total numeric(10,2) NOT NULL);
                INSERT INTO orders (customer, total) SELECT g % 100, g * 1.25 FROM generate_series(1, 5000) g;
                """);
        Path config = dir.resolve("migration.properties");
        Files.writeString(config, String.join("\n",
                "# every key is a MigrationBuilder method",
                "name=cli_shop",
                "databases=" + db,
                "source=jdbc:postgresql://" + source.host() + ":" + source.port() + "/",
                "source.user=" + source.superuser(),
                "target=jdbc:postgresql://" + target.host() + ":" + target.port() + "/",
                "target.user=" + target.superuser(),
                "stateDirectory=" + dir.resolve("state"),
                "cutoverTimeout=30s",
                ""));
        String c = config.toString();

        Result preflight = pgmigrate("preflight", "--config", c);
        assertThat(preflight.exit()).as(preflight.err()).isZero();
        assertThat(preflight.out()).contains("0 blocker(s)");

        Result start = pgmigrate("start", "--config", c);
        assertThat(start.exit()).as(start.err()).isZero();
        assertThat(start.out()).contains(db + ": STREAMING");

        Result status = pgmigrate("status", "--config", c);
        assertThat(status.exit()).as(status.err()).isZero();
        assertThat(status.out()).contains("migration cli_shop").contains(db + ": STREAMING, lag ");

        // offline, from the state store alone, as JSON
        Result offline = pgmigrate("status", "--config", c, "--offline", "--json");
        assertThat(offline.exit()).as(offline.err()).isZero();
        JsonNode json = Main.JSON.readTree(offline.out());
        assertThat(json.get("databases").get(0).get("database").asString()).isEqualTo(db);
        assertThat(json.get("databases").get(0).get("phase").asString()).isEqualTo("STREAMING");
        assertThat(json.get("databases").get(0).get("lagBytes").asLong()).isEqualTo(-1);

        Result verify = pgmigrate("verify", "--config", c);
        assertThat(verify.exit()).as(verify.out() + verify.err()).isZero();

        Result cutover = pgmigrate("cutover", "--config", c);
        assertThat(cutover.exit()).as(cutover.err()).isZero();
        assertThat(cutover.out()).contains("cutover to the target succeeded");
        source.execute(db, "SELECT 1"); // the source stays up, fenced
        assertThat(pgmigrate("status", "--config", c).out()).contains(db + ": CUT_OVER");

        Result rollback = pgmigrate("rollback", "--config", c, "--json");
        assertThat(rollback.exit()).as(rollback.err()).isZero();
        assertThat(Main.JSON.readTree(rollback.out()).get("succeeded").asBoolean()).isTrue();

        Result complete = pgmigrate("complete", "--config", c);
        assertThat(complete.exit()).as(complete.err()).isZero();
    }

    @Test
    void exitCodesSayWhatWentWrong(@TempDir Path dir) throws Exception {
        Path config = dir.resolve("bad.properties");
        Files.writeString(config, "name=cli_bad\nsource=jdbc:postgresql://127.0.0.1:1/shop\n"
                + "target=jdbc:postgresql://127.0.0.1:2/\nstateDirectory=" + dir + "\ncutover.timeout=30s\n");
        Result bad = pgmigrate("status", "--config", config.toString());
        assertThat(bad.exit()).isEqualTo(Main.CONFIGURATION);
        assertThat(bad.err()).contains("unknown setting cutover.timeout").contains("cutoverTimeout");

        Result unreachable = pgmigrate("status", "--config", config.toString(), "--set", "cutover.timeout=",
                "--set", "connectAttempts=1");
        assertThat(unreachable.exit()).as(unreachable.err()).isEqualTo(Main.CONFIGURATION); // the key is still there

        Files.writeString(config, "name=cli_bad\nsource=jdbc:postgresql://127.0.0.1:1/shop\n"
                + "target=jdbc:postgresql://127.0.0.1:2/\nstateDirectory=" + dir + "\nconnectAttempts=1\n"
                + "connectTimeout=2s\n");
        Result down = pgmigrate("verify", "--config", config.toString());
        assertThat(down.exit()).as(down.err()).isEqualTo(Main.UNREACHABLE);
        Result blocked = pgmigrate("preflight", "--config", config.toString());
        assertThat(blocked.exit()).as(blocked.out()).isEqualTo(Main.BLOCKED);
        // what the state store says needs no server
        Result offline = pgmigrate("status", "--config", config.toString(), "--offline");
        assertThat(offline.exit()).as(offline.err()).isZero();
        assertThat(offline.out()).contains("shop: NOT_STARTED").contains("nothing is recorded for migration cli_bad");

        Result usage = pgmigrate("cutover");
        assertThat(usage.exit()).isEqualTo(2);
        assertThat(usage.err()).contains("--config");
    }
}
