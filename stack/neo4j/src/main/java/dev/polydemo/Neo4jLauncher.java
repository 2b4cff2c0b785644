package dev.polydemo;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * Runs Neo4j Community embedded with only the Bolt connector, bound to 127.0.0.1.
 *
 * <p>Arguments (each also settable as a system property, arguments win):
 * <pre>
 *   --home DIR   (-Dpolydemo.neo4j.home)  Neo4j home; data/ and logs/ are created under it. Required.
 *   --port N     (-Dpolydemo.neo4j.port)  Bolt port, default 7687.
 *   --host ADDR  (-Dpolydemo.neo4j.host)  Bolt listen address, default 127.0.0.1.
 *   --pagecache SIZE (-Dpolydemo.neo4j.pagecache) page cache, default 64m.
 * </pre>
 * Environment: NEO4J_PASSWORD set and non-empty turns authentication on (user "neo4j", that password,
 * at least 8 characters); unset or empty leaves authentication off.
 *
 * <p>Prints "polydemo-neo4j: bolt listening on HOST:PORT" once Bolt accepts connections. SIGTERM/SIGINT
 * shut the DBMS down cleanly through a shutdown hook.
 */
public final class Neo4jLauncher {
    private static final String PREFIX = "polydemo-neo4j: ";

    private Neo4jLauncher() {}

    public static void main(String[] args) throws Exception {
        String home = System.getProperty("polydemo.neo4j.home");
        String host = System.getProperty("polydemo.neo4j.host", "127.0.0.1");
        String port = System.getProperty("polydemo.neo4j.port", "7687");
        String pagecache = System.getProperty("polydemo.neo4j.pagecache", "64m");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "--home": home = need(a, v); i++; break;
                case "--host": host = need(a, v); i++; break;
                case "--port": port = need(a, v); i++; break;
                case "--pagecache": pagecache = need(a, v); i++; break;
                case "-h": case "--help":
                    System.out.println("usage: Neo4jLauncher --home DIR [--port 7687] [--host 127.0.0.1] [--pagecache 64m]");
                    return;
                default:
                    die("unknown argument: " + a);
            }
        }
        if (home == null || home.isEmpty()) {
            die("--home DIR (or -Dpolydemo.neo4j.home) is required");
        }
        int boltPort = Integer.parseInt(port);
        Path homeDir = Path.of(home).toAbsolutePath();
        Files.createDirectories(homeDir);

        String password = System.getenv("NEO4J_PASSWORD");
        boolean auth = password != null && !password.isEmpty();

        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(homeDir)
                .setUserLogProvider(new Log4jLogProvider(System.out, Level.INFO))
                .setConfig(Map.of(
                        BoltConnector.enabled, true,
                        BoltConnector.listen_address, new SocketAddress(host, boltPort),
                        BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED,
                        HttpConnector.enabled, false,
                        HttpsConnector.enabled, false,
                        GraphDatabaseSettings.routing_enabled, false,
                        GraphDatabaseSettings.udc_enabled, false,
                        GraphDatabaseSettings.auth_enabled, auth,
                        // No lock-out after failed logins: on first start polydemo's readiness probe tries its
                        // password before this launcher has set it, and under load the default (3 attempts,
                        // then AuthenticationRateLimit) kept the probe locked out past the 90 s start timeout.
                        // Bolt listens on 127.0.0.1 only.
                        GraphDatabaseSettings.auth_max_failed_attempts, 0))
                .setConfig(Map.of(
                        GraphDatabaseSettings.pagecache_memory, parseBytes(pagecache),
                        // keep only a little transaction log around; do not preallocate log files
                        GraphDatabaseSettings.keep_logical_logs, "1 files",
                        GraphDatabaseSettings.logical_log_rotation_threshold, parseBytes("16m"),
                        GraphDatabaseSettings.preallocate_logical_logs, false,
                        GraphDatabaseSettings.memory_transaction_global_max_size, parseBytes("256m")))
                // A frozen server must be noticed in seconds, not minutes. The server tells each driver, in
                // the HELLO hint connection.recv_timeout_seconds (keep_alive x probes, 2 s x 2 here instead of
                // 1 min x 2), how long it may stay silent; the driver uses it as its socket read timeout, and
                // the server sends a NOOP chunk at least that often during any request, so a slow query is
                // never taken for a frozen one. With the defaults a read from a SIGSTOPped Neo4j took 120 s.
                .setConfig(Map.of(
                        BoltConnector.connection_keep_alive_type, BoltConnector.KeepAliveRequestType.ALL,
                        BoltConnector.connection_keep_alive, Duration.ofSeconds(2),
                        BoltConnector.connection_keep_alive_streaming_scheduling_interval, Duration.ofSeconds(1),
                        BoltConnector.connection_keep_alive_probes, 2))
                // Internal settings (fine with the pinned version): by default the Bolt server waits 5 s for
                // its netty event loops and 5 s for its connections at shutdown, even with no client, so
                // SIGTERM took ~10 s. The databases are already stopped and checkpointed by then; 0 s only
                // adds two WARN lines "Termination of ... event loop group has exceeded maximum permitted
                // duration" to debug.log. (Neo4j truncates these durations to whole seconds.)
                .setConfig(Map.of(
                        BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ZERO,
                        BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ZERO));

        long t0 = System.nanoTime();
        DatabaseManagementService dbms;
        try {
            dbms = builder.build();
        } catch (RuntimeException e) {
            // e.g. the port is taken or another process holds data/databases/store_lock
            e.printStackTrace();
            die("failed to start: " + e);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println(PREFIX + "shutting down");
            try {
                dbms.shutdown();
            } finally {
                System.out.println(PREFIX + "stopped");
                System.out.flush();
                stopped.countDown();
            }
        }, "polydemo-neo4j-shutdown"));

        try {
            GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
            if (!db.isAvailable(Duration.ofMinutes(2).toMillis())) {
                die("database " + GraphDatabaseSettings.DEFAULT_DATABASE_NAME + " did not become available");
            }
            if (auth) {
                setPassword(dbms, password);
            }
            // Warm up Cypher (class loading, planner) so that the first client query is not the slow one.
            db.executeTransactionally("RETURN 1");
            waitForPort(host, boltPort, Duration.ofMinutes(1));
        } catch (RuntimeException e) {
            // Neo4j's threads are not daemons: exit (the hook shuts the DBMS down) rather than hang half-up.
            e.printStackTrace();
            die("failed after start: " + e);
        }
        System.out.printf("%sbolt listening on %s:%d (auth %s, started in %d ms)%n", PREFIX, host, boltPort,
                auth ? "enabled" : "disabled", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        System.out.flush();
        stopped.await();
    }

    /** Sets the password of user neo4j through the system database; a no-op when it is already that. */
    private static void setPassword(DatabaseManagementService dbms, String password) {
        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        try {
            system.executeTransactionally("ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED",
                    Map.of("pw", password));
        } catch (RuntimeException e) {
            String msg = String.valueOf(e.getMessage());
            if (!msg.contains("Old password and new password cannot be the same")) {
                throw e;
            }
        }
    }

    private static void waitForPort(String host, int port, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 1000);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    die("bolt did not open " + host + ":" + port + ": " + e);
                }
                Thread.sleep(50);
            }
        }
    }

    private static long parseBytes(String s) {
        String t = s.trim().toLowerCase();
        long mult = 1;
        char last = t.charAt(t.length() - 1);
        if (last == 'k' || last == 'm' || last == 'g') {
            mult = last == 'k' ? 1L << 10 : last == 'm' ? 1L << 20 : 1L << 30;
            t = t.substring(0, t.length() - 1);
        }
        return Long.parseLong(t) * mult;
    }

    private static String need(String flag, String value) {
        if (value == null) {
            die(flag + " needs a value");
        }
        return value;
    }

    private static void die(String msg) {
        System.err.println(PREFIX + msg);
        System.err.flush();
        System.exit(2);
    }
}
