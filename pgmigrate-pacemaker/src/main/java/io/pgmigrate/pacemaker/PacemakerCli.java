package io.pgmigrate.pacemaker;

import io.pgmigrate.MigrationBuilder;
import io.pgmigrate.cli.CliExtension;
import io.pgmigrate.cli.Main;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * This module's part in the {@code pgmigrate} command line: the {@code pacemaker.} keys of the properties file (the
 * state in the cluster configuration, the VIP the cutover moves), and {@code pgmigrate agent run|validate}, the OCF
 * agent's Java side. Found by {@link java.util.ServiceLoader}.
 */
public final class PacemakerCli implements CliExtension {

    /** Created by the service loader. */
    public PacemakerCli() {
    }

    @Override
    public String prefix() {
        return AgentConfig.PREFIX;
    }

    @Override
    public void configure(Map<String, String> settings, Map<String, String> all, MigrationBuilder builder) {
        AgentConfig.apply(all, builder, CommandRunner.local(), "the configuration");
    }

    @Override
    public List<Object> commands() {
        return List.of(new Agent());
    }

    /** {@code pgmigrate agent}: what the OCF resource agent runs. */
    @Command(name = "agent", description = "The Pacemaker resource agent's Java side (ocf:pgmigrate:pgmigrate).",
            subcommands = {Run.class, Validate.class}, mixinStandardHelpOptions = true)
    static final class Agent implements Runnable {
        @picocli.CommandLine.Spec
        picocli.CommandLine.Model.CommandSpec spec;

        @Override
        public void run() {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "name run or validate");
        }
    }

    /** {@code pgmigrate agent run}: supervises the migration until stopped (the agent's start). */
    @Command(name = "run", description = "Starts or resumes the migration, reports its state to the status file once a"
            + " second, carries out a cutover asked for through the cluster attribute, until SIGTERM.")
    static final class Run implements Callable<Integer> {
        @Mixin
        Main.Common common = new Main.Common();

        @Option(names = "--status", required = true, paramLabel = "FILE", description = "the status file the agent's"
                + " monitor reads")
        java.nio.file.Path status;

        @Option(names = "--resource", paramLabel = "NAME", description = "the resource, stopped once cut over")
        String resource;

        @Override
        public Integer call() {
            return AgentMain.supervise(config(common), CommandRunner.local(), status.toString(), resource);
        }
    }

    /** {@code pgmigrate agent validate}: checks the file (the agent's validate-all). */
    @Command(name = "validate", description = "Checks the configuration file; opens no connection.")
    static final class Validate implements Callable<Integer> {
        @Mixin
        Main.Common common = new Main.Common();

        @picocli.CommandLine.Spec
        picocli.CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            AgentConfig config = config(common);
            try {
                config.migration(CommandRunner.local()).close(); // builds it: every setting checked
            } catch (IllegalArgumentException | IllegalStateException e) {
                throw new Main.ConfigurationException(common.config + ": " + e.getMessage(), e);
            }
            spec.commandLine().getOut().println("ok");
            return 0;
        }
    }

    /** The file with the command line's overrides ({@code --set}), checked as an agent's file. */
    private static AgentConfig config(Main.Common common) {
        try {
            return AgentConfig.of(common.settings(), common.config);
        } catch (IllegalArgumentException e) {
            throw new Main.ConfigurationException(e.getMessage(), e);
        }
    }
}
