package io.pgmigrate.pacemaker;

import io.pgmigrate.testkit.PostgresBinaries;

import java.util.ArrayList;
import java.util.List;

/**
 * Starts the two-host Pacemaker lab with PostgreSQL on both hosts and leaves it running:
 * {@code mvn -q -Plab -DskipTests package -pl pgmigrate-pacemaker -am} (as root). The majors default to 14 on host A
 * and 18 on host B ({@code -Dlab.source=16 -Dlab.target=17} to change). Stop it with
 * {@code pgmigrate-pacemaker/src/main/lab/pgmigrate-lab down}.
 */
public final class LabLauncher {

    private LabLauncher() {
    }

    public static void main(String[] args) throws Exception {
        String why = Lab.unavailable();
        if (why != null) {
            System.err.println("cannot start the lab: " + why);
            System.exit(2);
        }
        int source = Integer.getInteger("lab.source", 14);
        int target = Integer.getInteger("lab.target", 18);
        List<String> cmd = new ArrayList<>(List.of(Lab.SCRIPT.toString(), "up",
                "--pg-a", PostgresBinaries.forMajor(source).installDirectory().resolve("bin").toString(),
                "--pg-b", PostgresBinaries.forMajor(target).installDirectory().resolve("bin").toString()));
        int rc = new ProcessBuilder(cmd).inheritIO().start().waitFor();
        if (rc == 0) {
            System.out.println("\nThe lab is up. Cluster tools on a node: " + Lab.SCRIPT + " exec a crm_mon -1");
            System.out.println("Stop it with: " + Lab.SCRIPT + " down");
        }
        System.exit(rc);
    }
}
