-- The Glance 15.0.2 (Pike) registry schema exactly as `glance-manage db_sync` leaves it in
-- SQLite (sqlite_master order; the statements as SQLAlchemy/alembic wrote them).
CREATE TABLE migrate_version (
	repository_id VARCHAR(250) NOT NULL, 
	repository_path TEXT, 
	version INTEGER, 
	PRIMARY KEY (repository_id)
);
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE image_properties (
	id INTEGER NOT NULL, 
	image_id VARCHAR(36) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	value TEXT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	deleted_at DATETIME, 
	deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(image_id) REFERENCES images (id), 
	CONSTRAINT ix_image_properties_image_id_name UNIQUE (image_id, name), 
	CHECK (deleted IN (0, 1))
);
CREATE INDEX ix_image_properties_deleted ON image_properties (deleted);
CREATE INDEX ix_image_properties_image_id ON image_properties (image_id);
CREATE TABLE image_locations (
	id INTEGER NOT NULL, 
	image_id VARCHAR(36) NOT NULL, 
	value TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	deleted_at DATETIME, 
	deleted BOOLEAN NOT NULL, 
	meta_data TEXT, 
	status VARCHAR(30) DEFAULT 'active' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(image_id) REFERENCES images (id), 
	CHECK (deleted IN (0, 1))
);
CREATE INDEX ix_image_locations_deleted ON image_locations (deleted);
CREATE INDEX ix_image_locations_image_id ON image_locations (image_id);
CREATE TABLE image_members (
	id INTEGER NOT NULL, 
	image_id VARCHAR(36) NOT NULL, 
	member VARCHAR(255) NOT NULL, 
	can_share BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	deleted_at DATETIME, 
	deleted BOOLEAN NOT NULL, 
	status VARCHAR(20) DEFAULT 'pending' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(image_id) REFERENCES images (id), 
	CONSTRAINT image_members_image_id_member_deleted_at_key UNIQUE (image_id, member, deleted_at), 
	CHECK (can_share IN (0, 1)), 
	CHECK (deleted IN (0, 1))
);
CREATE INDEX ix_image_members_deleted ON image_members (deleted);
CREATE INDEX ix_image_members_image_id ON image_members (image_id);
CREATE INDEX ix_image_members_image_id_member ON image_members (image_id, member);
CREATE TABLE image_tags (
	id INTEGER NOT NULL, 
	image_id VARCHAR(36) NOT NULL, 
	value VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	deleted_at DATETIME, 
	deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(image_id) REFERENCES images (id), 
	CHECK (deleted IN (0, 1))
);
CREATE INDEX ix_image_tags_image_id ON image_tags (image_id);
CREATE INDEX ix_image_tags_image_id_tag_value ON image_tags (image_id, value);
CREATE TABLE tasks (
	id VARCHAR(36) NOT NULL, 
	type VARCHAR(30) NOT NULL, 
	status VARCHAR(30) NOT NULL, 
	owner VARCHAR(255) NOT NULL, 
	expires_at DATETIME, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	deleted_at DATETIME, 
	deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	CHECK (deleted IN (0, 1))
);
CREATE INDEX ix_tasks_deleted ON tasks (deleted);
CREATE INDEX ix_tasks_owner ON tasks (owner);
CREATE INDEX ix_tasks_status ON tasks (status);
CREATE INDEX ix_tasks_type ON tasks (type);
CREATE INDEX ix_tasks_updated_at ON tasks (updated_at);
CREATE TABLE task_info (
	task_id VARCHAR(36) NOT NULL, 
	input TEXT, 
	result TEXT, 
	message TEXT, 
	PRIMARY KEY (task_id), 
	FOREIGN KEY(task_id) REFERENCES tasks (id)
);
CREATE TABLE metadef_namespaces (
	id INTEGER NOT NULL, 
	namespace VARCHAR(80) NOT NULL, 
	display_name VARCHAR(80), 
	description TEXT, 
	visibility VARCHAR(32), 
	protected BOOLEAN, 
	owner VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_metadef_namespaces_namespace UNIQUE (namespace), 
	CHECK (protected IN (0, 1))
);
CREATE INDEX ix_metadef_namespaces_owner ON metadef_namespaces (owner);
CREATE TABLE metadef_resource_types (
	id INTEGER NOT NULL, 
	name VARCHAR(80) NOT NULL, 
	protected BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_metadef_resource_types_name UNIQUE (name), 
	CHECK (protected IN (0, 1))
);
CREATE TABLE metadef_namespace_resource_types (
	resource_type_id INTEGER NOT NULL, 
	namespace_id INTEGER NOT NULL, 
	properties_target VARCHAR(80), 
	prefix VARCHAR(80), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	PRIMARY KEY (resource_type_id, namespace_id), 
	FOREIGN KEY(namespace_id) REFERENCES metadef_namespaces (id), 
	FOREIGN KEY(resource_type_id) REFERENCES metadef_resource_types (id)
);
CREATE INDEX ix_metadef_ns_res_types_namespace_id ON metadef_namespace_resource_types (namespace_id);
CREATE TABLE metadef_objects (
	id INTEGER NOT NULL, 
	namespace_id INTEGER NOT NULL, 
	name VARCHAR(80) NOT NULL, 
	description TEXT, 
	required TEXT, 
	json_schema TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(namespace_id) REFERENCES metadef_namespaces (id), 
	CONSTRAINT uq_metadef_objects_namespace_id_name UNIQUE (namespace_id, name)
);
CREATE INDEX ix_metadef_objects_name ON metadef_objects (name);
CREATE TABLE metadef_properties (
	id INTEGER NOT NULL, 
	namespace_id INTEGER NOT NULL, 
	name VARCHAR(80) NOT NULL, 
	json_schema TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(namespace_id) REFERENCES metadef_namespaces (id), 
	CONSTRAINT uq_metadef_properties_namespace_id_name UNIQUE (namespace_id, name)
);
CREATE INDEX ix_metadef_properties_name ON metadef_properties (name);
CREATE TABLE metadef_tags (
	id INTEGER NOT NULL, 
	namespace_id INTEGER NOT NULL, 
	name VARCHAR(80) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(namespace_id) REFERENCES metadef_namespaces (id), 
	CONSTRAINT uq_metadef_tags_namespace_id_name UNIQUE (namespace_id, name)
);
CREATE INDEX ix_metadef_tags_name ON metadef_tags (name);
CREATE TABLE images (
    id VARCHAR(36) NOT NULL,
    name VARCHAR(255),
    size INTEGER,
    status VARCHAR(30) NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME,
    deleted_at DATETIME,
    deleted BOOLEAN NOT NULL,
    disk_format VARCHAR(20),
    container_format VARCHAR(20),
    checksum VARCHAR(32),
    owner VARCHAR(255),
    min_disk INTEGER NOT NULL,
    min_ram INTEGER NOT NULL,
    protected BOOLEAN DEFAULT 0 NOT NULL,
    virtual_size INTEGER,
    visibility VARCHAR(9) DEFAULT 'shared' NOT NULL,
    PRIMARY KEY (id),
    CHECK (deleted IN (0, 1)),
    CHECK (protected IN (0, 1)),
    CONSTRAINT image_visibility CHECK (visibility IN ('private', 'public', 'shared', 'community'))
);
CREATE INDEX checksum_image_idx ON images (checksum);
CREATE INDEX visibility_image_idx ON images (visibility);
CREATE INDEX ix_images_deleted ON images (deleted);
CREATE INDEX owner_image_idx ON images (owner);
CREATE INDEX created_at_image_idx ON images (created_at);
CREATE INDEX updated_at_image_idx ON images (updated_at);
