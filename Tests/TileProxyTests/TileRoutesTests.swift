import HTTPCore
import HTTPTypes
import XCTest

@testable import TileProxy

final class TileRoutesTests: XCTestCase {
    /// One row per upstream URL pattern (ome_seadragon's urls.py, omero-web's
    /// webgateway/urls.py): a request, and the exact upstream target with the query parameters
    /// its view reads.
    func testEveryUpstreamPatternForwardsExactlyWhatItsViewReads() {
        let rows: [(path: String, query: String?, upstream: String)] = [
            ("ome_seadragon/deepzoom/get/12.dzi", "tile_size=256&limit_bounds=true&x=1", "ome_seadragon/deepzoom/get/12.dzi?tile_size=256&limit_bounds=true"),
            ("ome_seadragon/deepzoom/get/12.json", "tile_size=256&limit_bounds=1", "ome_seadragon/deepzoom/get/12.json?tile_size=256"),
            ("ome_seadragon/deepzoom/get/12_metadata.json", "tile_size=512", "ome_seadragon/deepzoom/get/12_metadata.json?tile_size=512"),
            ("ome_seadragon/deepzoom/get/thumbnail/12.dzi", "size=128&tile_size=1", "ome_seadragon/deepzoom/get/thumbnail/12.dzi?size=128"),
            ("ome_seadragon/deepzoom/get/12_files/14/3_7.jpeg", "tile_size=256&limit_bounds=1&evil=1", "ome_seadragon/deepzoom/get/12_files/14/3_7.jpeg?tile_size=256&limit_bounds=1"),
            ("ome_seadragon/deepzoom/image_mpp/12.dzi", "tile_size=1", "ome_seadragon/deepzoom/image_mpp/12.dzi"),
            ("ome_seadragon/deepzoom/slide_bounds/12.dzi", nil, "ome_seadragon/deepzoom/slide_bounds/12.dzi"),
            ("ome_seadragon/mirax/deepzoom/get/slide-01.mrxs.dzi", "limit_bounds=0", "ome_seadragon/mirax/deepzoom/get/slide-01.mrxs.dzi?limit_bounds=0"),
            ("ome_seadragon/mirax/deepzoom/get/slide-01_metadata.json", nil, "ome_seadragon/mirax/deepzoom/get/slide-01_metadata.json"),
            ("ome_seadragon/mirax/deepzoom/get/slide-01.json", nil, "ome_seadragon/mirax/deepzoom/get/slide-01.json"),
            ("ome_seadragon/mirax/deepzoom/get/thumbnail/slide-01.dzi", "size=64", "ome_seadragon/mirax/deepzoom/get/thumbnail/slide-01.dzi?size=64"),
            ("ome_seadragon/mirax/deepzoom/get/slide-01_files/3/0_1.png", nil, "ome_seadragon/mirax/deepzoom/get/slide-01_files/3/0_1.png"),
            ("ome_seadragon/mirax/deepzoom/image_mpp/slide-01.dzi", nil, "ome_seadragon/mirax/deepzoom/image_mpp/slide-01.dzi"),
            ("ome_seadragon/mirax/deepzoom/slide_bounds/slide-01.dzi", nil, "ome_seadragon/mirax/deepzoom/slide_bounds/slide-01.dzi"),
            ("ome_seadragon/mirax/details/slide-01.json", nil, "ome_seadragon/mirax/details/slide-01.json"),
            ("ome_seadragon/get/image/12/", "rois=true&evil=1", "ome_seadragon/get/image/12/?rois=true"),
            ("ome_seadragon/arrays/deepzoom/get/7.dzi", nil, "ome_seadragon/arrays/deepzoom/get/7.dzi"),
            ("ome_seadragon/arrays/deepzoom/get/tumour-map.dzi", nil, "ome_seadragon/arrays/deepzoom/get/tumour-map.dzi"),
            ("ome_seadragon/arrays/deepzoom/get/a1_files/3/0_0.png", "palette=hot&threshold=0.5", "ome_seadragon/arrays/deepzoom/get/a1_files/3/0_0.png?palette=hot&threshold=0.5"),
            ("ome_seadragon/arrays/shapes/get/7/", "threshold=0.6&cluster_min_distance=2&cluster_min_area=1&shape_mode=contour", "ome_seadragon/arrays/shapes/get/7/?threshold=0.6&cluster_min_distance=2&cluster_min_area=1&shape_mode=contour"),
            ("webgateway/render_image_region/5/0/0/", "tile=3,1,2,512,512&c=1|0:255$FF0000&sneaky=x", "webgateway/render_image_region/5/0/0/?tile=3,1,2,512,512&c=1%7C0:255%24FF0000"),
            ("webgateway/render_image_region_rdef/5/0/0", "region=0,0,10,10&m=g&p=normal&ia=0&q=0.9&maps=x&z=1&t=1", "webgateway/render_image_region_rdef/5/0/0/?region=0,0,10,10&m=g&p=normal&ia=0&q=0.9&maps=x&z=1&t=1"),
            ("webgateway/render_image/5/", "format=png&c=1", "webgateway/render_image/5/?format=png&c=1"),
            ("webgateway/render_image/5/1/2/", nil, "webgateway/render_image/5/1/2/"),
            ("webgateway/render_image_rdef/5/1/", "q=0.5", "webgateway/render_image_rdef/5/1/?q=0.5"),
            ("webgateway/render_thumbnail/5/", "z=1&t=2&rdefId=3&c=1", "webgateway/render_thumbnail/5/?z=1&t=2&rdefId=3"),
            ("webgateway/render_thumbnail/5/96/96/", nil, "webgateway/render_thumbnail/5/96/96/"),
            ("webgateway/render_birds_eye_view/5/200/", "z=1&t=1&rdefId=2", "webgateway/render_birds_eye_view/5/200/?z=1&t=1&rdefId=2"),
            ("webgateway/imgData/5/", "callback=cb&getDefaults=true", "webgateway/imgData/5/?getDefaults=true"),
            ("webgateway/imgData/5/meta/", nil, "webgateway/imgData/5/meta/"),
        ]
        for row in rows {
            let match = TileRoutes.match(path: Substring(row.path), query: row.query.map { Substring($0) })
            XCTAssertEqual(match.map { $0.path + ($0.query.isEmpty ? "" : "?" + $0.query) }, row.upstream, row.path)
            XCTAssertNil(match?.missing, row.path)
        }
    }

    func testThumbnailWithoutItsRequiredSizeIsNamed() {
        XCTAssertEqual(TileRoutes.match(path: "ome_seadragon/deepzoom/get/thumbnail/12.dzi", query: nil)?.missing, "size")
        XCTAssertEqual(TileRoutes.match(path: "ome_seadragon/deepzoom/get/thumbnail/12.dzi", query: "tile_size=1")?.missing, "size")
    }

    func testJSONPCallbackIsNeverForwarded() {
        XCTAssertEqual(TileRoutes.match(path: "webgateway/imgData/5/", query: "callback=steal")?.query, "")
    }

    func testEverythingElseIsNotFound() {
        for path in [
            "ome_seadragon/../webclient/", "ome_seadragon/deepzoom/get/..%2f..%2fetc%2fpasswd.dzi", "ome_seadragon/deepzoom/get/%2e%2e/1.dzi",
            "ome_seadragon/deepzoom/get/1%00.dzi", "ome_seadragon/deepzoom/get/a\\b.dzi", "ome_seadragon/deepzoom/get/1.dzi/extra",
            "webclient/login/", "ome_seadragon/deepzoom/get/12_files/x/3_7.jpeg", "ome_seadragon/deepzoom/get/abc.dzi",
            "ome_seadragon/deepzoom/get/12_files/1/3_7.gif", "ome_seadragon/arrays/deepzoom/get/a_files/1/0_0.jpeg", "webgateway/imgData/abc/",
            "ome_seadragon/deepzoom/get//1.dzi", "", "webgateway/render_thumbnail/5/1/2/3/", "ome_seadragon/arrays/deepzoom/get/thumbnail/1.dzi",
            "ome_seadragon/connect/", "ome_seadragon/file/register/", "ome_seadragon/arrays/register_dataset/", "webgateway/render_image/5/1/2/3/",
            "webgateway/render_ome_tiff/i/5/", "webgateway/imgData/5/a/b/",
        ] {
            XCTAssertNil(TileRoutes.match(path: Substring(path), query: nil), path)
        }
    }
}

