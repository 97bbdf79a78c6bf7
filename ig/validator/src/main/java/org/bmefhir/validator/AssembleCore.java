package org.bmefhir.validator;

import java.nio.file.Path;

/**
 * Assemble the FHIR R4 core package (hl7.fhir.r4.core#4.0.1) in HOME/.fhir/packages and exit, without
 * starting a validator: the package cache SUSHI reads (scripts/sushi.sh runs it with HOME set there).
 *
 * <pre>java -cp 'classes:lib/*' org.bmefhir.validator.AssembleCore HOME</pre>
 */
public final class AssembleCore {
  private AssembleCore() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: AssembleCore HOME");
      System.exit(2);
    }
    System.out.println(Main.assembleCore(Path.of(args[0]).toAbsolutePath()));
  }
}
