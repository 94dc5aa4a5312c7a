package io.pgmigrate.core.internal.schema;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.sql.Connector;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code pg_dump --schema-only} path of the schema copy: finds a pg_dump at least as new as the source server,
 * runs it (arguments as a list, the password in a private passfile that is deleted afterwards) and turns its script
 * into statements JDBC can run.
 *
 * @param executable the pg_dump program
 * @param major      its major version
 */
public record PgDump(Path executable, int major) {

    private static final Pattern VERSION = Pattern.compile("\\(PostgreSQL\\)\\s+(\\d+)(?:\\.(\\d+))?");
    private static final Pattern RESTRICT = Pattern.compile("(?m)^\\\\(?:un)?restrict [A-Za-z0-9]+\\R?");
    private static final long TIMEOUT_MINUTES = 30;
    /** A statement creating or altering one of the migration's triggers, to its end (a semicolon ending a line). */
    private static final Pattern OWN_TRIGGERS = Pattern.compile(
            "(?ms)^(?:CREATE|ALTER) (?:EVENT )?TRIGGER \"?pgmigrate_.*?;[ \\t]*(?:\\R|\\z)");

    /** Where pg_dump lives when it is not on the {@code PATH}: Debian/Ubuntu, RHEL (PGDG), Homebrew. */
    private static final List<String> INSTALL_GLOBS = List.of(
            "/usr/lib/postgresql", "/usr/pgsql-", "/opt/homebrew/opt/postgresql@", "/usr/local/opt/postgresql@");

    /**
     * The pg_dump to use for a source of major {@code sourceMajor} and a target of {@code targetMajor}: the configured
     * one if given (which must be new enough), else among those found the newest that is not newer than the target
     * (its script is written for its own major), else the newest.
     *
     * @throws PgMigrateException naming where it looked and how to fix it when none is new enough
     */
    public static PgDump find(Optional<Path> configured, int sourceMajor, int targetMajor) {
        if (configured.isPresent()) {
            Path exe = configured.get();
            if (!Files.isExecutable(exe)) {
                throw new PgMigrateException(CoreErrorCode.INVALID_CONFIGURATION, "pgDump " + exe + " is not an executable"
                        + " file; give the path of a pg_dump " + sourceMajor + " or later");
            }
            PgDump d = new PgDump(exe, majorOf(exe));
            if (d.major < sourceMajor) {
                throw tooOld(sourceMajor, List.of(d));
            }
            return d;
        }
        List<PgDump> found = candidates().stream().map(p -> new PgDump(p, majorOf(p))).filter(d -> d.major > 0)
                .toList();
        List<PgDump> usable = found.stream().filter(d -> d.major >= sourceMajor)
                .sorted(Comparator.comparingInt(PgDump::major)).toList();
        if (usable.isEmpty()) {
            throw tooOld(sourceMajor, found);
        }
        return usable.stream().filter(d -> d.major <= targetMajor).reduce((a, b) -> b)
                .orElse(usable.get(usable.size() - 1));
    }

    private static PgMigrateException tooOld(int sourceMajor, List<PgDump> found) {
        String seen = found.isEmpty() ? "none was found on the PATH or under " + String.join("*, ", INSTALL_GLOBS)
                + "*" : "found only " + String.join(", ", found.stream().map(PgDump::toString).toList());
        return new PgMigrateException(CoreErrorCode.SCHEMA_COPY_FAILED, "schema strategy PG_DUMP needs a pg_dump "
                + sourceMajor + " or later (pg_dump refuses newer servers); " + seen + ". Install the client"
                + " package of PostgreSQL " + sourceMajor + " or later (Debian: postgresql-client-" + sourceMajor
                + " from apt.postgresql.org), point pgDump(Path) at one, or use SchemaStrategy.CATALOG, which needs"
                + " no external program");
    }

    private static List<Path> candidates() {
        Set<Path> out = new LinkedHashSet<>();
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(java.io.File.pathSeparator)) {
                if (!dir.isEmpty()) {
                    Path p = Path.of(dir, "pg_dump");
                    if (Files.isExecutable(p)) {
                        out.add(p);
                    }
                }
            }
        }
        for (String glob : INSTALL_GLOBS) {
            Path parent = Path.of(glob).getParent();
            String prefix = Path.of(glob).getFileName().toString();
            if (!Files.isDirectory(parent)) {
                continue;
            }
            try (DirectoryStream<Path> dirs = Files.newDirectoryStream(parent, prefix + "*")) {
                for (Path d : dirs) {
                    Path p = d.resolve("bin").resolve("pg_dump");
                    if (Files.isExecutable(p)) {
                        out.add(p);
                    }
                }
            } catch (IOException e) {
                // an unreadable directory holds nothing we can use
            }
        }
        return new ArrayList<>(out);
    }

    /** The major version {@code pg_dump --version} prints, or 0 when it cannot be run. */
    static int majorOf(Path exe) {
        try {
            Process p = new ProcessBuilder(exe.toString(), "--version").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                return 0;
            }
            Matcher m = VERSION.matcher(out);
            return m.find() ? Integer.parseInt(m.group(1)) : 0;
        } catch (IOException e) {
            return 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 0;
        }
    }

    /**
     * Dumps the schema of {@code database}: without the migration's own schemas, publications and subscriptions, and
     * without owners and grants unless {@code ownershipAndGrants}.
     *
     * @return the script, psql meta-commands removed
     */
    public String dump(Connector source, String database, boolean ownershipAndGrants) {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("pgmigrate-pgdump", PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
            Path out = dir.resolve("schema.sql");
            Path err = dir.resolve("stderr.txt");
            List<String> command = new ArrayList<>(List.of(executable.toString(), "--schema-only",
                    "--no-publications", "--no-subscriptions", "--exclude-schema=pgmigrate_*",
                    "--file=" + out, "--dbname=" + conninfo(source, database)));
            if (!ownershipAndGrants) {
                command.add(command.size() - 1, "--no-owner");
                command.add(command.size() - 1, "--no-privileges");
            }
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(false)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile());
            Map<String, String> env = pb.environment();
            env.remove("PGPASSWORD");
            Optional<String> password = source.password(database);
            if (password.isPresent()) {
                Path passfile = dir.resolve("pgpass");
                Files.writeString(passfile, "*:*:*:*:" + password.get().replace("\\", "\\\\").replace(":", "\\:")
                        + "\n", StandardCharsets.UTF_8);
                Files.setPosixFilePermissions(passfile, PosixFilePermissions.fromString("rw-------"));
                env.put("PGPASSFILE", passfile.toString());
            }
            env.put("PGAPPNAME", "pgmigrate-pg_dump");
            Process p = pb.start();
            if (!p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new PgMigrateException(CoreErrorCode.SCHEMA_COPY_FAILED, database, this + " did not finish within "
                        + TIMEOUT_MINUTES + " minutes");
            }
            if (p.exitValue() != 0) {
                String stderr = Files.readString(err, StandardCharsets.UTF_8).strip();
                throw new PgMigrateException(CoreErrorCode.SCHEMA_COPY_FAILED, database, this + " failed (exit code "
                        + p.exitValue() + "): " + (stderr.isEmpty() ? "no message" : stderr));
            }
            return withoutOwnObjects(withoutMetaCommands(Files.readString(out, StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw new PgMigrateException(CoreErrorCode.SCHEMA_COPY_FAILED, database, "cannot run " + this + ": "
                    + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PgMigrateException(CoreErrorCode.INTERRUPTED, database, "interrupted while " + this
                    + " ran", e);
        } finally {
            deleteAll(dir);
        }
    }

    /**
     * The script without the psql meta-commands {@code \\restrict} and {@code \\unrestrict}, which pg_dump writes
     * around a plain script from its August 2025 minor releases on (a guard for psql against a malicious server;
     * JDBC runs no meta-commands).
     */
    static String withoutMetaCommands(String script) {
        return RESTRICT.matcher(script).replaceAll("");
    }

    /**
     * The script without the migration's own event triggers and table triggers (the schema-change capture's, named
     * {@code pgmigrate_...}): {@code --exclude-schema} leaves out their functions but not them, since event triggers
     * belong to the database and triggers to their tables. Each side has its own.
     */
    static String withoutOwnObjects(String script) {
        return OWN_TRIGGERS.matcher(script).replaceAll("");
    }

    /** A libpq connection string for {@code database} on the source, without the password. */
    static String conninfo(Connector source, String database) {
        var e = source.endpoint();
        StringBuilder b = new StringBuilder();
        b.append("host=").append(value(e.host())).append(" port=").append(e.port())
                .append(" dbname=").append(value(database));
        e.user().ifPresent(u -> b.append(" user=").append(value(u)));
        for (String key : List.of("sslmode", "sslrootcert", "sslcert", "sslkey")) {
            String v = e.properties().get(key);
            if (v != null) {
                b.append(' ').append(key).append('=').append(value(v));
            }
        }
        return b.toString();
    }

    private static String value(String v) {
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }

    private static void deleteAll(Path dir) {
        if (dir == null) {
            return;
        }
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir + " (it may hold a password file)", e);
        }
    }

    @Override
    public String toString() {
        return "pg_dump " + major + " (" + executable + ")";
    }
}
