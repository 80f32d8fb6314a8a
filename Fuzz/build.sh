#!/usr/bin/env bash
# Builds the parser fuzzer (libFuzzer + AddressSanitizer) into .build/fuzz/parser-fuzz.
# The parser's sources and swift-http-types are compiled directly, so the fuzzer does not
# depend on the rest of corsd.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .build/checkouts/swift-http-types ] || swift package resolve
out=.build/fuzz
mkdir -p "$out"
rm -f "$out/parser-fuzz"
swiftc -O -parse-as-library -emit-library -static -emit-module -module-name HTTPTypes \
  -sanitize=address -emit-module-path "$out/HTTPTypes.swiftmodule" -o "$out/libHTTPTypes.a" \
  .build/checkouts/swift-http-types/Sources/HTTPTypes/*.swift
swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name ParserFuzz -I "$out" -L "$out" -lHTTPTypes \
  Fuzz/ParserFuzz.swift \
  Sources/HTTPCore/Message/HTTPParser.swift Sources/HTTPCore/Message/HTTPParseError.swift Sources/HTTPCore/Message/MessageHead.swift \
  -o "$out/parser-fuzz" 2>&1 | grep -v "Cannot export local symbol" || true
[ -x "$out/parser-fuzz" ]
echo "built $out/parser-fuzz"
