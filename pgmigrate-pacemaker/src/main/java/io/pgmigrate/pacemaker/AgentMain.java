package io.pgmigrate.pacemaker;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.DatabaseStatus;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The Java side of the {@code pgmigrate} OCF resource agent, run as {@code pgmigrate agent run --config FILE
 * --status FILE [--resource NAME]} ({@link PacemakerCli}): it starts or resumes the migration, then once a second
 * writes the state to the status file ({@code state=STARTING|RUNNING|IN_SYNC|CUT_OVER|FAILED|STOPPED},
 * {@code message=}, {@code updated=}), which the agent's monitor reads, and carries out a cutover requested through
 * the cluster attribute ({@link CutoverTrigger}). After a cutover it asks Pacemaker to stop the resource
 * ({@code target-role=Stopped}): its work is done, and the reverse stream goes on in the servers for a rollback. On
 * SIGTERM (the agent's stop) it pauses the stream before the cutover (never after it) and exits; nothing is dropped.
 * Operators use the same file with the command line's own commands ({@code pgmigrate status|rollback|complete
 * --config FILE}).
 */
public final class AgentMain {

    private static final long SYNC_LAG_BYTES = 1 << 20;

    private AgentMain() {
    }

    static int supervise(AgentConfig config, CommandRunner runner, String statusFile, String resource) {
        if (statusFile == null) {
            throw new IllegalArgumentException("run needs --status FILE");
        }
        Path status = Path.of(statusFile);
        AtomicBoolean stopping = new AtomicBoolean();
        CountDownLatch finished = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping.set(true);
            try {
                finished.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "pgmigrate-stop"));
        String state = "STARTING";
        try (StatusFile report = new StatusFile(status, Duration.ofSeconds(1), Duration.ofMinutes(2));
             Migration m = config.migration(runner)) {
            // The longest one call of the supervisor may take: a cutover's catch-up wait, its window, its undo.
            var cutover = m.config().cutover();
            report.allowQuiet(cutover.catchUpTimeout().plus(cutover.timeout().multipliedBy(4))
                    .plus(Duration.ofMinutes(2)));
            try {
                if (resource != null) {
                    try {
                        stickinessWarning(runner, resource).ifPresent(AgentMain::log);
                    } catch (RuntimeException e) {
                        log("could not check " + resource + "'s resource-stickiness: " + e.getMessage());
                    }
                }
                state = begin(m);
                report.set(state, "");
                CutoverTrigger trigger = new CutoverTrigger(m, runner, config.triggerAttribute());
                boolean stopRequested = false;
                while (!stopping.get()) {
                    if (!state.equals("CUT_OVER")) {
                        try {
                            trigger.poll().ifPresent(r -> log(r.toText()));
                        } catch (PgMigrateException e) {
                            log("the requested cutover failed: " + e.getMessage());
                            for (Throwable s : e.getSuppressed()) {
                                log("  and: " + s.getMessage()); // e.g. the result could not be recorded
                            }
                        }
                        state = state(m.status());
                    }
                    report.set(state, "");
                    if (state.equals("CUT_OVER") && !stopRequested && resource != null) {
                        // Done: Pacemaker stops the resource; the stop leaves the reverse stream running.
                        runner.attempt(List.of("crm_resource", "--resource", resource, "--meta",
                                "--set-parameter", "target-role", "--parameter-value", "Stopped"));
                        stopRequested = true;
                        log("cut over; asked Pacemaker to stop " + resource);
                    }
                    sleep(1000);
                }
                if (!state.equals("CUT_OVER")) {
                    m.pause();
                    log("stopped: the stream is paused, the slots keep every change");
                }
                report.set("STOPPED", "");
                return 0;
            } catch (PgMigrateException e) {
                report.set("FAILED", e.getMessage());
                log("failed: " + e.getMessage());
                // Stay up so the monitor reports FAILED until Pacemaker stops the resource.
                while (!stopping.get()) {
                    sleep(500);
                }
                return 1;
            }
        } finally {
            finished.countDown();
        }
    }

    /**
     * Starts or resumes. A cutover or rollback a crash interrupted is ended in its own direction, finished or undone,
     * and no other move is started: that is the operator's to ask for.
     */
    private static String begin(Migration m) {
        m.recover().ifPresent(r -> log("ended the move an earlier run began: " + r.toText()));
        MigrationStatus st = m.status();
        if (st.databases().stream().allMatch(d -> d.phase() == Phase.CUT_OVER)) {
            return "CUT_OVER";
        }
        m.start();
        return state(m.status());
    }

    /**
     * Why the cluster may move {@code resource} to another node on its own, or empty. With no stickiness, the cutover
     * moving the VIP can make Pacemaker rebalance the migration's resource in the same transition: it stops the
     * migration in the middle of its cutover (which finishes first, but the stop holds up every later transition).
     */
    static java.util.Optional<String> stickinessWarning(CommandRunner runner, String resource) {
        // a clone's instance is named "name:N"
        String id = resource.contains(":") ? resource.substring(0, resource.indexOf(':')) : resource;
        if (!id.matches("[A-Za-z0-9][A-Za-z0-9_.-]*")) {
            return java.util.Optional.empty(); // not a Pacemaker id: nothing to look up
        }
        // its own, then the group's or clone's holding it, nearest first, then the default for all resources
        String self = "//resources//*[@id='" + id + "']";
        List<String> places = List.of(self, self + "/parent::*", self + "/parent::*/parent::*");
        List<String> xpaths = new java.util.ArrayList<>();
        for (String place : places) {
            xpaths.add(place + "/meta_attributes/nvpair[@name='resource-stickiness']");
        }
        xpaths.add("//rsc_defaults//nvpair[@name='resource-stickiness']");
        for (String xpath : xpaths) {
            CommandRunner.Result r = runner.attempt(List.of("cibadmin", "--query", "--xpath", xpath));
            if (r.exitCode() == 0) {
                String value = CibXml.elements(r.stdout(), "nvpair").stream().map(e -> e.getAttribute("value"))
                        .findFirst().orElse("0");
                return positive(value) ? java.util.Optional.empty() : java.util.Optional.of(warning(resource,
                        "its resource-stickiness is " + value));
            }
        }
        return java.util.Optional.of(warning(resource, "it has no resource-stickiness"));
    }

    private static boolean positive(String score) {
        String v = score.strip().toUpperCase(java.util.Locale.ROOT);
        if (v.equals("INFINITY") || v.equals("+INFINITY")) {
            return true;
        }
        try {
            return Long.parseLong(v.startsWith("+") ? v.substring(1) : v) > 0;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static String warning(String resource, String why) {
        return "warning: " + resource + " may be moved by the cluster when the cutover moves the VIP (" + why
                + "), stopping the migration in the middle of its cutover; keep it where it runs: crm_resource"
                + " --resource " + resource + " --meta --set-parameter resource-stickiness --parameter-value INFINITY";
    }

    static String state(MigrationStatus st) {
        List<DatabaseStatus> dbs = st.databases();
        if (dbs.stream().anyMatch(d -> d.phase() == Phase.FAILED)) {
            throw new PgMigrateException(io.pgmigrate.CoreErrorCode.REPLICATION_FAILED, dbs.stream()
                    .filter(d -> d.phase() == Phase.FAILED).map(d -> d.database() + ": " + d.message()).toList()
                    .toString());
        }
        if (dbs.stream().anyMatch(d -> d.phase() == Phase.CUTTING_OVER)) {
            // Only read between this supervisor's own calls, so a move is pending that nothing drives: one whose
            // undo failed leaves a side fenced. Reported as a failure, so Pacemaker restarts the resource, and its
            // start ends the move (recover()).
            throw new PgMigrateException(io.pgmigrate.CoreErrorCode.CUTOVER_FAILED, "a cutover or rollback is pending"
                    + " and nothing drives it (a side may be fenced); restarting the resource ends it");
        }
        if (dbs.stream().allMatch(d -> d.phase() == Phase.CUT_OVER)) {
            return "CUT_OVER";
        }
        if (dbs.stream().allMatch(d -> d.phase() == Phase.STREAMING && d.lagBytes() <= SYNC_LAG_BYTES)) {
            return "IN_SYNC";
        }
        return "RUNNING";
    }

    private static void log(String line) {
        System.out.println(Instant.now() + " " + line);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
