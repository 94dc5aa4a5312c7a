// pgmigrate from JShell: the demo's flow, one statement at a time. Open it with ./pgmigrate-examples/jshell.sh
import io.pgmigrate.*;
import io.pgmigrate.testkit.*;
import java.time.Duration;

var source = EmbeddedPostgresServer.start(14);
var target = EmbeddedPostgresServer.start(18);
source.createDatabase("shop");
source.execute("shop", "CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric(12,2), placed_at timestamptz DEFAULT now())");
source.execute("shop", "INSERT INTO orders (total) SELECT g / 100.0 FROM generate_series(1, 50000) g");

// JShell ends a statement at the end of a line when it can: keep the dots at the ends of lines.
var m = Migration.builder().
        name("jshell").
        source(source.endpoint("shop")).
        target(target.endpoint()).
        stateDirectory(java.nio.file.Files.createTempDirectory("pgmigrate-jshell")).
        build();
System.out.print(m.preflight().toTable());
m.start();
m.awaitInSync(Duration.ofMinutes(2));
source.execute("shop", "INSERT INTO orders (total) VALUES (42.00)");
m.awaitInSync(Duration.ofSeconds(30));
System.out.println(m.status());
System.out.println("identical: " + m.verify().matches());
// Without a trafficSwitch(...) the application switches itself once cutover() returns.
System.out.println(m.cutover().toText());
target.execute("shop", "INSERT INTO orders (total) VALUES (7.00)");
m.awaitInSync(Duration.ofSeconds(30));
System.out.println("the reverse stream brought the target's new order to the source: " + m.verify().matches());
System.out.println(m.rollback().toText());
m.complete();
m.close();
target.close();
source.close();
System.out.println("done: try Migration.builder() yourself, or /exit");
