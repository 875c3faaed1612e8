package io.modelcache.cli;

import io.modelcache.error.ModelCacheException;
import io.modelcache.registry.Credentials;
import io.modelcache.registry.DockerConfig;
import io.modelcache.registry.RegistryClient;
import java.io.BufferedReader;
import java.io.Console;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code modelcache login HOST}: checks credentials, then stores them in the docker config (0600). */
@Command(name = "login", description = "Store registry credentials (in the Docker config file, mode 0600) after checking them.")
final class LoginCommand implements Callable<Integer> {
  @Mixin RegistryFlags registry;

  @Parameters(index = "0", paramLabel = "HOST", description = "The registry, host[:port].")
  String host;

  @Option(names = {"-u", "--username"}, required = true, paramLabel = "USER", description = "The user name.")
  String user;

  @Option(names = "--password-stdin", description = "Read the password from standard input.")
  boolean passwordStdin;

  /** Taken only to refuse it: as an unknown option, picocli would print the password back. */
  @Option(names = {"-p", "--password"}, hidden = true, paramLabel = "PASSWORD",
      description = "Refused: it would leave the password in the shell history; use --password-stdin.")
  String passwordOnCommandLine;

  @Option(names = "--docker-config", paramLabel = "FILE",
      description = "Docker config file to store into (default: the config's credentials, $DOCKER_CONFIG/config.json or ~/.docker/config.json).")
  Path config;

  @Override
  public Integer call() throws Exception {
    if (passwordOnCommandLine != null) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE,
          "-p/--password would leave the password in the shell history and the process list; pipe it to --password-stdin");
    }
    host = io.modelcache.oci.Reference.parseRegistry(host);
    var options = registry.options(); // a bad config file fails before the password prompt
    String password;
    if (passwordStdin) {
      password = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
    } else {
      Console c = System.console();
      if (c == null) {
        throw new ModelCacheException(ModelCacheException.Kind.USAGE, "no terminal to read the password from; use --password-stdin");
      }
      char[] pw = c.readPassword("Password for %s@%s: ", user, host);
      password = pw == null ? null : new String(pw);
    }
    if (password == null || password.isEmpty()) {
      throw new ModelCacheException(ModelCacheException.Kind.USAGE, "empty password");
    }
    Credentials creds = new Credentials(user, password.strip());
    Path file = config != null ? config : options.dockerConfigPath();
    RegistryClient.verifyLogin(host, creds, options.withDockerConfig(file));
    DockerConfig.store(file, host, creds.user(), creds.password());
    System.out.println("login succeeded for " + user + " at " + host + "; credentials stored in " + file);
    return 0;
  }
}
