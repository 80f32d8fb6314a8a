#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer + AddressSanitizer) into .build/fuzz/:
# - parser-fuzz: the RFC 9112 parser (Fuzz/ParserFuzz.swift);
# - upstream-fuzz: upstream responses through the parser, cache rules and response builder
#   (Fuzz/UpstreamFuzz.swift).
# swift-http-types, CorsdBase and HTTPCore's message layer are compiled directly as modules of their own,
# so the fuzzers depend on nothing else of corsd.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .build/checkouts/swift-http-types ] || swift package resolve
out=.build/fuzz
mkdir -p "$out"
rm -f "$out/parser-fuzz" "$out/upstream-fuzz"
quiet() { grep -v "Cannot export local symbol" || true; }
swiftc -O -parse-as-library -emit-library -static -emit-module -module-name HTTPTypes \
  -sanitize=address -emit-module-path "$out/HTTPTypes.swiftmodule" -o "$out/libHTTPTypes.a" \
  .build/checkouts/swift-http-types/Sources/HTTPTypes/*.swift
swiftc -O -parse-as-library -emit-library -static -emit-module -module-name CorsdBase \
  -sanitize=address -emit-module-path "$out/CorsdBase.swiftmodule" -o "$out/libCorsdBase.a" \
  Sources/CorsdBase/*.swift
swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name ParserFuzz -I "$out" -L "$out" -lHTTPTypes -lCorsdBase \
  Fuzz/ParserFuzz.swift \
  Sources/HTTPCore/Message/HTTPParser.swift Sources/HTTPCore/Message/HTTPParseError.swift Sources/HTTPCore/Message/MessageHead.swift \
  -o "$out/parser-fuzz" 2>&1 | quiet
swiftc -O -parse-as-library -emit-library -static -emit-module -module-name HTTPCore -sanitize=fuzzer,address \
  -I "$out" -emit-module-path "$out/HTTPCore.swiftmodule" -o "$out/libHTTPCore.a" Sources/HTTPCore/Message/*.swift 2>&1 | quiet
swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name UpstreamFuzz -I "$out" -L "$out" -lHTTPCore -lHTTPTypes -lCorsdBase \
  Fuzz/UpstreamFuzz.swift Sources/TileProxy/CacheFields.swift Sources/TileProxy/CacheRules.swift Sources/TileProxy/ResponseBuilder.swift \
  -o "$out/upstream-fuzz" 2>&1 | quiet
[ -x "$out/parser-fuzz" ] && [ -x "$out/upstream-fuzz" ]
echo "built $out/parser-fuzz $out/upstream-fuzz"
