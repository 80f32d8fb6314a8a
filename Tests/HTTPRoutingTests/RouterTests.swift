import HTTPCore
import HTTPRouting
import HTTPTypes
import Testing

/// The responder layer: matching, parameters, the error protocol and the problem+json of
/// every refusal, through the in-process `respond(to:)`.
@Suite struct RouterTests {
    struct Teapot: HTTPResponseError {
        var problem: Problem { Problem(status: .init(code: 418), detail: "short and stout") }
    }

    struct Unexpected: Error {}

    static func request(_ method: HTTPRequest.Method, _ path: String) -> HTTPServerRequest {
        HTTPServerRequest(head: HTTPRequest(method: method, scheme: nil, authority: "a", path: path))
    }

    static let router: Router = {
        var r = Router()
        r.add(.get, "/items/{id}") { _, context in
            try .json(["id": try context.parameters.require("id"), "route": context.route])
        }
        r.add(.get, "/numbers/{n}") { _, context in try .json(["n": try context.parameters.require("n", as: Int.self)]) }
        r.add(.get, "/files/{path...}") { _, context in try .json(["path": try context.parameters.require("path")]) }
        r.add(.get, "/teapot") { _, _ in throw Teapot() }
        r.add(.get, "/broken") { _, _ in throw Unexpected() }
        r.add(.post, "/items") { _, _ in Response(status: .created) }
        return r
    }()

    func body(_ response: Response) -> String { String(decoding: response.body, as: UTF8.self) }

    @Test func parametersArePercentDecodedAndTheRouteIsTheTemplate() async {
        let r = await Self.router.respond(to: Self.request(.get, "/items/a%20b"))
        #expect(r.status == .ok)
        #expect(body(r) == #"{"id":"a b","route":"/items/{id}"}"#)
        #expect(body(await Self.router.respond(to: Self.request(.get, "/files/a/b%2Fc"))) == #"{"path":"a/b/c"}"#)
    }

    @Test(arguments: [
        ("/items/%zz", 400, "percent_encoding"),
        ("/numbers/seven", 404, nil),
        ("/nowhere", 404, nil),
        ("/teapot", 418, nil),
        ("/broken", 500, nil),
    ] as [(String, Int, String?)])
    func refusalsAreProblems(_ path: String, _ status: Int, _ rule: String?) async {
        let r = await Self.router.respond(to: Self.request(.get, path))
        #expect(r.status.code == status)
        #expect(r.headerFields[.contentType] == "application/problem+json")
        if let rule { #expect(body(r).contains(#""rule":"\#(rule)""#), "\(body(r))") }
        #expect(!body(r).contains("Unexpected"), "internal errors are not described to clients")
    }

    @Test func anotherMethodIs405WithAllowAndHeadFallsBackToGet() async {
        let r = await Self.router.respond(to: Self.request(.delete, "/items"))
        #expect(r.status == .methodNotAllowed)
        #expect(r.headerFields[.allow] == "POST")
        #expect(await Self.router.respond(to: Self.request(.head, "/items/1")).status == .ok)
    }

    @Test(arguments: [
        ("*", EntityTag.Condition.any),
        (#""1""#, .tags([#""1""#])),
        (#" "1" , W/"2", "3""#, .tags([#""1""#, #""3""#])),
    ])
    func ifMatchParses(_ header: String, _ expected: EntityTag.Condition) throws {
        #expect(try EntityTag.Condition(header) == expected)
    }

    @Test(arguments: ["1", #""1"#, #""a"b""#, "", #""1",,"2""#])
    func malformedIfMatchIs400(_ header: String) {
        #expect(throws: Problem.self) { try EntityTag.Condition(header) }
    }

    @Test func ifNoneMatchComparesWeakly() {
        #expect(EntityTag.ifNoneMatch(#"W/"x", "y""#, matches: #""x""#))
        #expect(EntityTag.ifNoneMatch("*", matches: #""x""#))
        #expect(!EntityTag.ifNoneMatch(#""z""#, matches: #""x""#))
    }

    @Test func queryStringsRefuseUnknownNamesAndBadEscapes() throws {
        let q = QueryString("a=1&b=%zz&flag&a=2&yes=true&no=false")
        #expect(try q.get("a") == "1", "the first value wins")
        #expect(throws: Problem.self) { try q.get("b") }
        #expect(try q.flag("yes"))
        #expect(try !q.flag("no"))
        #expect(try !q.flag("absent"))
        #expect(throws: Problem.self, "a flag says true or false (openapi.yaml's boolean), never nothing") { try q.flag("flag") }
        #expect(throws: Problem.self) { try q.allowOnly(["a", "b"]) }
    }

    @Test func rejectionsAreProblemsNamingTheRule() {
        let r = Problem.rejection(HTTPParseError(.requestHeaderFieldsTooLarge, "too many header fields"))
        #expect(r.contentType == "application/problem+json")
        #expect(String(decoding: r.body, as: UTF8.self).contains(#""rule":"header_too_large""#))
    }
}
