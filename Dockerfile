# One image for every lorastream service; docker-compose.yml picks the subcommand.
# Build stage: the Maven wrapper builds the launcher and its modules (no tests; CI runs them).
FROM eclipse-temurin:25-jdk AS build
WORKDIR /src
COPY . .
RUN ./mvnw -B -ntp -q -DskipTests -pl launcher -am package

FROM eclipse-temurin:25-jre
WORKDIR /opt/lorastream
COPY --from=build /src/launcher/target/launcher-*.jar /opt/lorastream/launcher.jar
COPY --from=build /src/launcher/target/lib /opt/lorastream/lib
COPY models /opt/lorastream/models
ENV JAVA_OPTS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseParallelGC"
ENTRYPOINT ["sh", "-c", "exec java $JAVA_OPTS -cp /opt/lorastream/launcher.jar:/opt/lorastream/lib/* dev.lorastream.cli.Main \"$@\"", "lorastream"]
CMD ["--help"]
