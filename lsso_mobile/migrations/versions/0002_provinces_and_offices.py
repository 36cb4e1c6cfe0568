"""the 18 provinces of the Lao PDR and their provincial social security offices

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Copied here (not imported) so this migration never changes when the code does.
PROVINCES = (
    ("01", "ນະຄອນຫຼວງວຽງຈັນ", "Vientiane Capital"),
    ("02", "ຜົ້ງສາລີ", "Phongsaly"),
    ("03", "ຫຼວງນ້ຳທາ", "Luang Namtha"),
    ("04", "ອຸດົມໄຊ", "Oudomxay"),
    ("05", "ບໍ່ແກ້ວ", "Bokeo"),
    ("06", "ຫຼວງພະບາງ", "Luang Prabang"),
    ("07", "ຫົວພັນ", "Houaphanh"),
    ("08", "ໄຊຍະບູລີ", "Xayaboury"),
    ("09", "ຊຽງຂວາງ", "Xiengkhouang"),
    ("10", "ວຽງຈັນ", "Vientiane Province"),
    ("11", "ບໍລິຄຳໄຊ", "Borikhamxay"),
    ("12", "ຄຳມ່ວນ", "Khammouane"),
    ("13", "ສະຫວັນນະເຂດ", "Savannakhet"),
    ("14", "ສາລະວັນ", "Salavan"),
    ("15", "ເຊກອງ", "Sekong"),
    ("16", "ຈຳປາສັກ", "Champasak"),
    ("17", "ອັດຕະປື", "Attapeu"),
    ("18", "ໄຊສົມບູນ", "Xaisomboun"),
)


def upgrade() -> None:
    provinces = sa.table("provinces", sa.column("code"), sa.column("name_lo"), sa.column("name_en"))
    offices = sa.table(
        "offices",
        sa.column("code"),
        sa.column("level"),
        sa.column("province_code"),
        sa.column("district_code"),
        sa.column("name_lo"),
        sa.column("name_en"),
    )
    op.bulk_insert(provinces, [{"code": c, "name_lo": lo, "name_en": en} for c, lo, en in PROVINCES])
    op.bulk_insert(
        offices,
        [
            {
                "code": f"P{c}",
                "level": "provincial",
                "province_code": c,
                "district_code": None,
                "name_lo": f"ຫ້ອງການປະກັນສັງຄົມ {lo}",
                "name_en": f"{en} Social Security Office",
            }
            for c, lo, en in PROVINCES
        ],
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM offices WHERE level = 'provincial'"))
    op.execute(sa.text("DELETE FROM provinces"))
